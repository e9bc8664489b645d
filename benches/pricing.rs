//! Micro-benchmark: pricing a 20-line cart with a percentage code, the work done on
//! every cart change. Run with `cargo bench --bench pricing`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tixshop::domain::VatRate;
use tixshop::domain::pricing::{LineInput, VatMode, price};
use tixshop::domain::promo::{Discount, PercentOff, PromoDiscount};

fn cart() -> Vec<LineInput> {
    let rates = [VatRate::from_basis_points(1900).unwrap(), VatRate::from_basis_points(700).unwrap()];
    (0..20)
        .map(|i| LineInput {
            ticket_type_id: i + 1,
            event_id: i % 3 + 1,
            unit_price: 1999 + i * 137,
            quantity: (i % 5 + 1) as u32,
            vat_rate: rates[(i % 2) as usize],
        })
        .collect()
}

fn pricing(c: &mut Criterion) {
    let lines = cart();
    let all_events = PromoDiscount {
        discount: Discount::Percentage(PercentOff::parse("15").unwrap()),
        event_id: None,
        minimum_subtotal: None,
    };
    let scoped = PromoDiscount { discount: Discount::FixedAmount(2_500), event_id: Some(2), minimum_subtotal: None };
    c.bench_function("price 20 lines, 15% on all", |b| {
        b.iter(|| price(black_box(&lines), Some(black_box(&all_events)), VatMode::Inclusive))
    });
    c.bench_function("price 20 lines, 25.00 fixed on one event, net prices", |b| {
        b.iter(|| price(black_box(&lines), Some(black_box(&scoped)), VatMode::Exclusive))
    });
    c.bench_function("price 20 lines, no promo", |b| b.iter(|| price(black_box(&lines), None, VatMode::Inclusive)));
}

criterion_group!(benches, pricing);
criterion_main!(benches);
