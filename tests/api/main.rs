//! One integration-test binary: every test starts the real server (see `helpers`).

mod cli;
mod foundation;
mod helpers;
