//! sea-orm models, one module per table, and nothing else: behaviour lives in
//! `services`, which translate between these rows and `domain` values.

pub mod account;
pub mod api_key;
pub mod audit_entry;
pub mod cart;
pub mod cart_line;
pub mod enums;
pub mod event;
pub mod order;
pub mod order_item;
pub mod partner;
pub mod partner_share_link;
pub mod payment_event;
pub mod promo_batch;
pub mod promo_code;
pub mod promo_link_visit;
pub mod rate_limit;
pub mod redemption;
pub mod refund;
pub mod session;
pub mod ticket_type;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
