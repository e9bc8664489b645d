//! One integration-test binary: every test starts the real server (see `helpers`).

mod carts;
mod cli;
mod examples;
mod foundation;
mod helpers;
mod promo_codes;
