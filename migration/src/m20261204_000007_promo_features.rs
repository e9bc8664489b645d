//! Promo codes for campaigns:
//! - `promo_codes`: a start (`starts_at`), a minimum eligible subtotal, the batch a code
//!   was generated in, the partner it belongs to, and the buyer it is bound to (the
//!   email as given, and its customer key, as for per-customer caps);
//! - `promo_batches`: one row per `generatePromoCodes` call;
//! - `partners`: the people (creators, newsletters, venues) codes are handed out by;
//! - `partner_share_links`: revocable read-only links to one partner's (or one code's)
//!   figures; only the token's SHA-256 is stored.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum PromoCodes {
    Table,
    StartsAt,
    MinimumSubtotal,
    BatchId,
    PartnerId,
    RecipientEmail,
    RecipientKey,
}

#[derive(DeriveIden, Clone, Copy)]
enum PromoBatches {
    Table,
    Id,
    AccountId,
    Name,
    Prefix,
    Recipients,
    CodeCount,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Partners {
    Table,
    Id,
    AccountId,
    Name,
    Contact,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PartnerShareLinks {
    Table,
    Id,
    AccountId,
    PartnerId,
    PromoCodeId,
    TokenHash,
    CreatedAt,
    RevokedAt,
}

async fn add(m: &SchemaManager<'_>, column: ColumnDef) -> Result<(), DbErr> {
    let mut column = column;
    m.alter_table(Table::alter().table(PromoCodes::Table).add_column(&mut column).to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add(m, timestamp_with_time_zone_null(PromoCodes::StartsAt).to_owned()).await?;
        add(m, big_integer_null(PromoCodes::MinimumSubtotal).to_owned()).await?;
        add(m, big_integer_null(PromoCodes::BatchId).to_owned()).await?;
        add(m, big_integer_null(PromoCodes::PartnerId).to_owned()).await?;
        add(m, string_len_null(PromoCodes::RecipientEmail, 254).to_owned()).await?;
        add(m, string_len_null(PromoCodes::RecipientKey, 254).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(PromoBatches::Table)
                .col(big_pk_auto(PromoBatches::Id))
                .col(big_integer(PromoBatches::AccountId))
                .col(string_len(PromoBatches::Name, 100))
                .col(string_len(PromoBatches::Prefix, 16))
                .col(boolean(PromoBatches::Recipients))
                .col(integer(PromoBatches::CodeCount))
                .col(timestamp_with_time_zone(PromoBatches::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Partners::Table)
                .col(big_pk_auto(Partners::Id))
                .col(big_integer(Partners::AccountId))
                .col(string_len(Partners::Name, 100))
                .col(string_len_null(Partners::Contact, 254))
                .col(timestamp_with_time_zone(Partners::CreatedAt))
                .col(timestamp_with_time_zone(Partners::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PartnerShareLinks::Table)
                .col(big_pk_auto(PartnerShareLinks::Id))
                .col(big_integer(PartnerShareLinks::AccountId))
                .col(big_integer_null(PartnerShareLinks::PartnerId))
                .col(big_integer_null(PartnerShareLinks::PromoCodeId))
                .col(string_len_uniq(PartnerShareLinks::TokenHash, 64))
                .col(timestamp_with_time_zone(PartnerShareLinks::CreatedAt))
                .col(timestamp_with_time_zone_null(PartnerShareLinks::RevokedAt))
                .to_owned(),
        )
        .await?;
        let indexes: [(&str, TableRef, Vec<DynIden>, bool); 5] = [
            ("idx_promo_codes_batch", PromoCodes::Table.into_table_ref(), vec![PromoCodes::BatchId.into_iden()], false),
            (
                "idx_promo_codes_partner",
                PromoCodes::Table.into_table_ref(),
                vec![PromoCodes::PartnerId.into_iden()],
                false,
            ),
            (
                "idx_promo_batches_account",
                PromoBatches::Table.into_table_ref(),
                vec![PromoBatches::AccountId.into_iden(), PromoBatches::Id.into_iden()],
                false,
            ),
            (
                "uq_partners_account_name",
                Partners::Table.into_table_ref(),
                vec![Partners::AccountId.into_iden(), Partners::Name.into_iden()],
                true,
            ),
            (
                "idx_partner_share_links_account",
                PartnerShareLinks::Table.into_table_ref(),
                vec![PartnerShareLinks::AccountId.into_iden(), PartnerShareLinks::Id.into_iden()],
                false,
            ),
        ];
        for (name, table, columns, unique) in indexes {
            let mut index = Index::create();
            index.name(name).table(table);
            for c in columns {
                index.col(c);
            }
            if unique {
                index.unique();
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in
            [PartnerShareLinks::Table.into_iden(), Partners::Table.into_iden(), PromoBatches::Table.into_iden()]
        {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for name in ["idx_promo_codes_partner", "idx_promo_codes_batch"] {
            m.drop_index(Index::drop().name(name).table(PromoCodes::Table).to_owned()).await?;
        }
        for column in [
            PromoCodes::RecipientKey,
            PromoCodes::RecipientEmail,
            PromoCodes::PartnerId,
            PromoCodes::BatchId,
            PromoCodes::MinimumSubtotal,
            PromoCodes::StartsAt,
        ] {
            m.alter_table(Table::alter().table(PromoCodes::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
