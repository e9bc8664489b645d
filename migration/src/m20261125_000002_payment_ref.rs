//! The provider's payment reference on an order (Stripe PaymentIntent `pi_…`, PayPal
//! capture id), needed to refund and to match refund events; the `provider_ref` column
//! holds the checkout object (Stripe Checkout Session `cs_…`, PayPal order id).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    PaymentRef,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Orders::Table).add_column(string_null(Orders::PaymentRef)).to_owned())
            .await?;
        m.create_index(
            Index::create().name("idx_orders_payment_ref").table(Orders::Table).col(Orders::PaymentRef).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("idx_orders_payment_ref").table(Orders::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::PaymentRef).to_owned()).await
    }
}
