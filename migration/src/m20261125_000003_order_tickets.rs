//! `orders.ticket_count`: tickets per order, so promo reports sum one column of the
//! orders table (indexed by account and time) instead of joining every item.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    TicketCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Orders::Table).add_column(integer(Orders::TicketCount).default(0)).to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE orders SET ticket_count = \
                 (SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE order_items.order_id = orders.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::TicketCount).to_owned()).await
    }
}
