//! One integration-test binary: every test starts the real server (see `helpers`).

mod back_office;
mod campaigns;
mod carts;
mod checkout;
mod cli;
mod dashboard;
mod examples;
mod fakes;
mod foundation;
mod fuzz;
mod hardening;
mod helpers;
mod isolation;
mod mcp;
mod metrics;
mod orders;
mod promo_codes;
mod ssrf;
mod test_mode;
