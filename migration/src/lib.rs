//! Database migrations for tixshop (sea-orm-migration).
//!
//! One file per migration; [`Migrator`] lists them in order. The binary runs them on
//! `tixshop serve` start and with `tixshop migrate`; `cargo run -p migration` offers
//! sea-orm's usual CLI (`up`, `down`, `status`, `fresh`).

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261125_000002_payment_ref;
mod m20261125_000003_order_tickets;
mod m20261201_000004_hardening;
mod m20261202_000005_back_office;
mod m20261203_000006_report_rollup;
mod m20261204_000007_promo_features;

/// Every migration of the schema, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_payment_ref::Migration),
            Box::new(m20261125_000003_order_tickets::Migration),
            Box::new(m20261201_000004_hardening::Migration),
            Box::new(m20261202_000005_back_office::Migration),
            Box::new(m20261203_000006_report_rollup::Migration),
            Box::new(m20261204_000007_promo_features::Migration),
        ]
    }
}
