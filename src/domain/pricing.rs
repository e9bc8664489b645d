//! The pricing engine: one pure function from cart lines and a promo to exact amounts.
//!
//! Steps, all in integer minor units:
//! 1. Each line's original amount is unit price × quantity; the subtotal is their sum.
//! 2. Eligible lines are all lines, or those of the promo's event.
//! 3. Below the promo's minimum eligible subtotal D is 0 (the cart says how much is
//!    missing). Otherwise the discount D is `round_half_up(eligible × percent / 100)` for a percentage, or
//!    `min(amount_off, eligible)` for a fixed amount.
//! 4. D is allocated over eligible lines in proportion to their amounts by the
//!    largest-remainder method: allocations sum to D exactly, each within one minor unit
//!    of its exact share.
//! 5. A line's discounted amount is split into at most two unit prices one minor unit
//!    apart (3 × 27.50 − 0.01 → 2 × 9.17 + 1 × 9.16 … as needed).
//! 6. VAT is computed on the discounted amounts, per rate: extracted from gross amounts
//!    (prices include VAT) or added to net amounts, rounded half-up once per rate.
//!
//! Invariants (property-tested): Σ allocations = D; 0 ≤ everything; net + VAT = total;
//! Σ price points × quantities = the lines' discounted sum, which is the total for gross
//! prices and the net for net prices.

use super::money::VatRate;
use super::promo::{Discount, PromoDiscount};

/// One cart line to price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    /// The ticket type.
    pub ticket_type_id: i64,
    /// Its event, for promo scope.
    pub event_id: i64,
    /// Unit price before discount, minor units (gross or net per the account).
    pub unit_price: i64,
    /// At least one.
    pub quantity: u32,
    /// The line's VAT rate.
    pub vat_rate: VatRate,
}

/// Whether prices include VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VatMode {
    /// Prices are gross: VAT is extracted from them.
    Inclusive,
    /// Prices are net: VAT is added on top.
    Exclusive,
}

/// `quantity` units at `unit_price`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricePoint {
    /// Discounted unit price, minor units.
    pub unit_price: i64,
    /// Units at that price.
    pub quantity: u32,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    /// The ticket type.
    pub ticket_type_id: i64,
    /// Its event.
    pub event_id: i64,
    /// Units.
    pub quantity: u32,
    /// Unit price before discount.
    pub original_unit_price: i64,
    /// Unit price × quantity.
    pub original_amount: i64,
    /// Whether the promo's scope covers this line.
    pub eligible: bool,
    /// The line's share of the discount.
    pub discount: i64,
    /// Original amount − discount.
    pub amount: i64,
    /// One price point, or two one minor unit apart (higher first).
    pub price_points: Vec<PricePoint>,
    /// The line's VAT rate.
    pub vat_rate: VatRate,
}

/// VAT for all lines of one rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VatGroup {
    /// The rate.
    pub rate: VatRate,
    /// Net amount of the group.
    pub net: i64,
    /// VAT of the group.
    pub vat: i64,
    /// Net + VAT.
    pub gross: i64,
}

/// The priced cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCart {
    /// Lines in input order.
    pub lines: Vec<PricedLine>,
    /// Σ original amounts.
    pub subtotal: i64,
    /// Σ original amounts of eligible lines.
    pub eligible_subtotal: i64,
    /// The discount D.
    pub discount: i64,
    /// Σ net of the VAT groups.
    pub net: i64,
    /// Σ VAT of the VAT groups.
    pub vat: i64,
    /// net + vat: what the buyer pays.
    pub total: i64,
    /// VAT per rate, ascending.
    pub vat_groups: Vec<VatGroup>,
    /// A promo scoped to an event was given but the cart has no ticket of that event (it
    /// stays attached and gives nothing until one is added).
    pub promo_not_applicable: bool,
    /// The promo has a minimum eligible subtotal the cart does not reach: how much more
    /// it needs (minor units). No discount until then.
    pub promo_shortfall: Option<i64>,
}

/// Inputs the engine cannot price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A line with quantity 0 or a negative price.
    #[error("line {0} has a zero quantity or a negative price")]
    InvalidLine(usize),
    /// Amounts beyond 64-bit minor units.
    #[error("amounts too large to price")]
    Overflow,
}

/// `numerator / denominator` rounded half-up, for non-negative values.
fn div_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// Prices `lines` with an optional promo.
pub fn price(lines: &[LineInput], promo: Option<&PromoDiscount>, mode: VatMode) -> Result<PricedCart, PricingError> {
    let mut original = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.quantity == 0 || line.unit_price < 0 {
            return Err(PricingError::InvalidLine(i));
        }
        original.push(line.unit_price.checked_mul(i64::from(line.quantity)).ok_or(PricingError::Overflow)?);
    }
    let subtotal = checked_sum(original.iter().copied())?;
    let eligible: Vec<bool> =
        lines.iter().map(|l| promo.is_some_and(|p| p.event_id.is_none_or(|event| event == l.event_id))).collect();
    let eligible_subtotal = checked_sum(original.iter().zip(&eligible).filter(|(_, e)| **e).map(|(a, _)| *a))?;

    // By event, not by amount: a scoped code with no ticket of its event in the cart.
    let not_applicable = promo.is_some_and(|p| p.event_id.is_some_and(|e| !lines.iter().any(|l| l.event_id == e)));
    let shortfall = promo
        .and_then(|p| p.minimum_subtotal)
        .filter(|minimum| !not_applicable && eligible_subtotal < *minimum)
        .map(|minimum| minimum - eligible_subtotal);
    let discount = match promo.map(|p| p.discount).filter(|_| shortfall.is_none()) {
        None => 0,
        Some(Discount::Percentage(percent)) => {
            let d = div_half_up(i128::from(eligible_subtotal) * i128::from(percent.hundredths()), 10_000);
            i64::try_from(d).map_err(|_| PricingError::Overflow)?
        }
        Some(Discount::FixedAmount(amount)) => amount.clamp(0, eligible_subtotal),
    };
    let allocations = allocate(discount, &original, &eligible);

    let priced: Vec<PricedLine> = lines
        .iter()
        .zip(original.iter().zip(eligible.iter().zip(allocations)))
        .map(|(line, (&original_amount, (&eligible, discount)))| {
            let amount = original_amount - discount;
            PricedLine {
                ticket_type_id: line.ticket_type_id,
                event_id: line.event_id,
                quantity: line.quantity,
                original_unit_price: line.unit_price,
                original_amount,
                eligible,
                discount,
                amount,
                price_points: split(amount, line.quantity),
                vat_rate: line.vat_rate,
            }
        })
        .collect();

    let vat_groups = vat_groups(&priced, mode);
    let net = vat_groups.iter().map(|g| g.net).sum();
    let vat = vat_groups.iter().map(|g| g.vat).sum();
    Ok(PricedCart {
        lines: priced,
        subtotal,
        eligible_subtotal,
        discount,
        net,
        vat,
        total: net + vat,
        vat_groups,
        promo_not_applicable: not_applicable,
        promo_shortfall: shortfall,
    })
}

fn checked_sum(mut amounts: impl Iterator<Item = i64>) -> Result<i64, PricingError> {
    amounts.try_fold(0_i64, |acc, v| acc.checked_add(v)).ok_or(PricingError::Overflow)
}

/// Splits `total` over `amounts` in proportion by the largest-remainder method: the
/// shares sum to `total` exactly (used to spread a VAT group over its items).
pub fn allocate_proportionally(total: i64, amounts: &[i64]) -> Vec<i64> {
    allocate(total, amounts, &vec![true; amounts.len()])
}

/// Largest-remainder allocation of `total` over the eligible `amounts`, in proportion.
/// Ties in remainder go to the larger amount, then to the earlier line, so the result is
/// deterministic.
fn allocate(total: i64, amounts: &[i64], eligible: &[bool]) -> Vec<i64> {
    let base: i128 = amounts.iter().zip(eligible).filter(|(_, e)| **e).map(|(a, _)| i128::from(*a)).sum();
    let mut shares = vec![0_i64; amounts.len()];
    if total == 0 || base == 0 {
        return shares;
    }
    let mut remainders = Vec::new();
    let mut allocated: i64 = 0;
    for (i, (&amount, &is_eligible)) in amounts.iter().zip(eligible).enumerate() {
        if !is_eligible {
            continue;
        }
        let exact = i128::from(total) * i128::from(amount);
        let floor = (exact / base) as i64;
        shares[i] = floor;
        allocated += floor;
        remainders.push((exact % base, amount, i));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let leftover = (total - allocated) as usize;
    for &(_, _, i) in remainders.iter().take(leftover) {
        shares[i] += 1;
    }
    shares
}

/// Splits `amount` over `quantity` units: unit prices differ by at most one minor unit.
fn split(amount: i64, quantity: u32) -> Vec<PricePoint> {
    let q = i64::from(quantity);
    let low = amount / q;
    let high_units = (amount % q) as u32;
    let mut points = Vec::with_capacity(2);
    if high_units > 0 {
        points.push(PricePoint { unit_price: low + 1, quantity: high_units });
    }
    if quantity > high_units {
        points.push(PricePoint { unit_price: low, quantity: quantity - high_units });
    }
    points
}

/// VAT per rate on the discounted line amounts.
fn vat_groups(lines: &[PricedLine], mode: VatMode) -> Vec<VatGroup> {
    let mut by_rate: std::collections::BTreeMap<VatRate, i64> = std::collections::BTreeMap::new();
    for line in lines {
        *by_rate.entry(line.vat_rate).or_default() += line.amount;
    }
    by_rate
        .into_iter()
        .map(|(rate, amount)| {
            let bp = i128::from(rate.basis_points());
            match mode {
                VatMode::Inclusive => {
                    let vat = div_half_up(i128::from(amount) * bp, 10_000 + bp) as i64;
                    VatGroup { rate, net: amount - vat, vat, gross: amount }
                }
                VatMode::Exclusive => {
                    let vat = div_half_up(i128::from(amount) * bp, 10_000) as i64;
                    VatGroup { rate, net: amount, vat, gross: amount + vat }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::promo::PercentOff;

    fn vat(percent: &str) -> VatRate {
        VatRate::parse_percent(percent).unwrap()
    }

    fn line(id: i64, event: i64, unit: i64, qty: u32) -> LineInput {
        LineInput { ticket_type_id: id, event_id: event, unit_price: unit, quantity: qty, vat_rate: vat("19") }
    }

    fn pct(p: &str) -> PromoDiscount {
        PromoDiscount {
            discount: Discount::Percentage(PercentOff::parse(p).unwrap()),
            event_id: None,
            minimum_subtotal: None,
        }
    }

    fn fixed(minor: i64) -> PromoDiscount {
        PromoDiscount { discount: Discount::FixedAmount(minor), event_id: None, minimum_subtotal: None }
    }

    #[test]
    fn no_promo_leaves_prices_alone_and_extracts_vat() {
        let cart = price(&[line(1, 1, 1999, 2), line(2, 1, 3500, 1)], None, VatMode::Inclusive).unwrap();
        assert_eq!(cart.subtotal, 7498);
        assert_eq!(cart.discount, 0);
        assert_eq!(cart.total, 7498);
        // 7498 × 19 / 119 = 1197.16… → 1197
        assert_eq!(cart.vat, 1197);
        assert_eq!(cart.net, 6301);
    }

    /// NEWS10 on 2 × 19.99 + 1 × 35.00: D = 10 % of 74.98 = 7.498 → 7.50.
    /// Shares: 39.98/74.98 × 7.50 = 3.9990… → 3.99 (+1 by remainder .99 → 4.00),
    ///         35.00/74.98 × 7.50 = 3.5009… → 3.50 (remainder .009).
    /// Line 1: 39.98 − 4.00 = 35.98 → 2 × 17.99. Line 2: 35.00 − 3.50 = 31.50.
    /// Total 67.48; VAT 67.48 × 19/119 = 10.774… → 10.77; net 56.71.
    #[test]
    fn worked_example_news10() {
        let cart = price(&[line(1, 1, 1999, 2), line(2, 1, 3500, 1)], Some(&pct("10")), VatMode::Inclusive).unwrap();
        assert_eq!(cart.discount, 750);
        assert_eq!(cart.lines[0].discount, 400);
        assert_eq!(cart.lines[1].discount, 350);
        assert_eq!(cart.lines[0].price_points, vec![PricePoint { unit_price: 1799, quantity: 2 }]);
        assert_eq!(cart.lines[1].price_points, vec![PricePoint { unit_price: 3150, quantity: 1 }]);
        assert_eq!(cart.total, 6748);
        assert_eq!(cart.vat, 1077);
        assert_eq!(cart.net, 5671);
    }

    /// A 50.00 minimum on the eligible subtotal: 2 × 19.99 = 39.98 is 10.02 short and
    /// gets nothing; a third ticket (59.97) reaches it and gets the full 10 %. Lines of
    /// other events do not count towards it.
    #[test]
    fn a_minimum_subtotal_holds_the_discount_back_until_reached() {
        let minimum = PromoDiscount { minimum_subtotal: Some(5000), ..pct("10") };
        let short = price(&[line(1, 1, 1999, 2)], Some(&minimum), VatMode::Inclusive).unwrap();
        assert_eq!((short.discount, short.total, short.promo_shortfall), (0, 3998, Some(1002)));
        let reached = price(&[line(1, 1, 1999, 3)], Some(&minimum), VatMode::Inclusive).unwrap();
        assert_eq!((reached.discount, reached.promo_shortfall), (600, None));
        let exact = price(&[line(1, 1, 2500, 2)], Some(&minimum), VatMode::Inclusive).unwrap();
        assert_eq!((exact.discount, exact.promo_shortfall), (500, None), "reaching it exactly is enough");
        let scoped = PromoDiscount { event_id: Some(1), ..minimum };
        let mixed = price(&[line(1, 1, 1999, 2), line(2, 2, 3500, 1)], Some(&scoped), VatMode::Inclusive).unwrap();
        assert_eq!((mixed.discount, mixed.promo_shortfall), (0, Some(1002)), "only its event's tickets count");
        let elsewhere = PromoDiscount { event_id: Some(9), ..minimum };
        let none = price(&[line(1, 1, 1999, 2)], Some(&elsewhere), VatMode::Inclusive).unwrap();
        assert!(none.promo_not_applicable && none.promo_shortfall.is_none(), "not applicable comes first");
    }

    /// FRIEND5 (5.00 fixed) on 3 × 7.50 = 22.50: one line takes it all: 17.50 over 3
    /// units = 5.833… → 2 × 5.83 + 1 × 5.84.
    #[test]
    fn worked_example_fixed_amount_split_into_two_price_points() {
        let cart = price(&[line(3, 2, 750, 3)], Some(&fixed(500)), VatMode::Inclusive).unwrap();
        assert_eq!(cart.discount, 500);
        assert_eq!(
            cart.lines[0].price_points,
            vec![PricePoint { unit_price: 584, quantity: 1 }, PricePoint { unit_price: 583, quantity: 2 }]
        );
        assert_eq!(cart.total, 1750);
    }

    /// 15 % on 3 × 35.00 = 105.00: D = 15.75; 89.25 / 3 = 29.75 exactly.
    #[test]
    fn worked_example_even_split() {
        let cart = price(&[line(2, 1, 3500, 3)], Some(&pct("15")), VatMode::Inclusive).unwrap();
        assert_eq!(cart.discount, 1575);
        assert_eq!(cart.lines[0].price_points, vec![PricePoint { unit_price: 2975, quantity: 3 }]);
    }

    /// Half-up rounding at exactly .5: 12.5 % of 0.20 = 0.025 → 0.03.
    #[test]
    fn rounds_half_up() {
        let cart = price(&[line(1, 1, 20, 1)], Some(&pct("12.5")), VatMode::Inclusive).unwrap();
        assert_eq!(cart.discount, 3);
    }

    #[test]
    fn a_scoped_promo_touches_only_its_event() {
        let scoped = PromoDiscount { event_id: Some(2), ..pct("50") };
        let cart = price(&[line(1, 1, 1999, 1), line(3, 2, 750, 2)], Some(&scoped), VatMode::Inclusive).unwrap();
        assert_eq!(cart.lines[0].discount, 0);
        assert_eq!(cart.lines[1].discount, 750);
        assert!(!cart.promo_not_applicable);
        let elsewhere = PromoDiscount { event_id: Some(9), ..pct("50") };
        let cart = price(&[line(1, 1, 1999, 1)], Some(&elsewhere), VatMode::Inclusive).unwrap();
        assert_eq!(cart.discount, 0);
        assert!(cart.promo_not_applicable);
        assert!(price(&[], Some(&elsewhere), VatMode::Inclusive).unwrap().promo_not_applicable, "empty cart");
        // An unscoped code on free tickets is applicable, just worth nothing.
        assert!(!price(&[line(1, 1, 0, 1)], Some(&pct("10")), VatMode::Inclusive).unwrap().promo_not_applicable);
    }

    #[test]
    fn a_fixed_amount_above_the_subtotal_makes_it_free() {
        let cart = price(&[line(1, 1, 1999, 1)], Some(&fixed(5000)), VatMode::Inclusive).unwrap();
        assert_eq!((cart.discount, cart.total, cart.vat), (1999, 0, 0));
    }

    /// Net prices: VAT is added per rate on the discounted net.
    /// 2 × 10.00 at 19 % and 1 × 10.00 at 7 %, 10 % off: lines 18.00 and 9.00;
    /// VAT 3.42 + 0.63; total 31.05.
    #[test]
    fn exclusive_vat_is_added_per_rate() {
        let lines = [line(1, 1, 1000, 2), LineInput { vat_rate: vat("7"), ..line(2, 1, 1000, 1) }];
        let cart = price(&lines, Some(&pct("10")), VatMode::Exclusive).unwrap();
        assert_eq!(cart.net, 2700);
        assert_eq!(
            cart.vat_groups.iter().map(|g| (g.rate.basis_points(), g.vat)).collect::<Vec<_>>(),
            vec![(700, 63), (1900, 342)]
        );
        assert_eq!(cart.total, 3105);
    }

    #[test]
    fn refuses_bad_lines_and_overflow() {
        assert_eq!(price(&[line(1, 1, 100, 0)], None, VatMode::Inclusive), Err(PricingError::InvalidLine(0)));
        assert_eq!(price(&[line(1, 1, i64::MAX, 2)], None, VatMode::Inclusive), Err(PricingError::Overflow));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::money::Currency;
    use crate::domain::promo::PercentOff;

    fn currency() -> impl Strategy<Value = Currency> {
        prop_oneof![Just("EUR"), Just("JPY"), Just("BHD")].prop_map(|c| Currency::parse(c).unwrap())
    }

    fn lines(currency: Currency) -> impl Strategy<Value = Vec<LineInput>> {
        // Prices up to 2 000 major units in the currency, awkward minor parts included.
        let max = 2_000 * 10_i64.pow(currency.exponent());
        prop::collection::vec(
            (1_i64..=3, 0_i64..=max, 1_u32..=12, prop_oneof![Just(0), Just(700), Just(1900), Just(2100)]),
            1..=8,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (event, unit, qty, bp))| LineInput {
                    ticket_type_id: i as i64 + 1,
                    event_id: event,
                    unit_price: unit,
                    quantity: qty,
                    vat_rate: VatRate::from_basis_points(bp).unwrap(),
                })
                .collect()
        })
    }

    fn promo(currency: Currency) -> impl Strategy<Value = PromoDiscount> {
        let max_fixed = 3_000 * 10_i64.pow(currency.exponent());
        let discount = prop_oneof![
            (100_u32..=10_000).prop_map(|h| Discount::Percentage(PercentOff::from_hundredths(h).unwrap())),
            (1_i64..=max_fixed).prop_map(Discount::FixedAmount),
        ];
        (discount, prop::option::of(1_i64..=3)).prop_map(|(discount, event_id)| PromoDiscount {
            discount,
            event_id,
            minimum_subtotal: None,
        })
    }

    fn case() -> impl Strategy<Value = (Vec<LineInput>, PromoDiscount, VatMode)> {
        currency()
            .prop_flat_map(|c| (lines(c), promo(c), prop_oneof![Just(VatMode::Inclusive), Just(VatMode::Exclusive)]))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn invariants_hold((lines, promo, mode) in case()) {
            let cart = price(&lines, Some(&promo), mode).unwrap();

            // Allocations sum exactly to the discount; only eligible lines get any.
            prop_assert_eq!(cart.lines.iter().map(|l| l.discount).sum::<i64>(), cart.discount);
            for l in &cart.lines {
                prop_assert!(l.eligible || l.discount == 0);
                prop_assert_eq!(l.eligible, promo.event_id.is_none_or(|e| e == l.event_id));
            }

            // Each allocation within one minor unit of its exact proportional share.
            if cart.eligible_subtotal > 0 {
                for l in cart.lines.iter().filter(|l| l.eligible) {
                    let lhs = i128::from(l.discount) * i128::from(cart.eligible_subtotal);
                    let share = i128::from(cart.discount) * i128::from(l.original_amount);
                    prop_assert!((lhs - share).abs() < i128::from(cart.eligible_subtotal), "{l:?}");
                }
            }

            // Price points: at most two, one minor unit apart, covering the quantity and amount.
            for l in &cart.lines {
                prop_assert!(!l.price_points.is_empty() && l.price_points.len() <= 2);
                if let [a, b] = l.price_points.as_slice() {
                    prop_assert_eq!(a.unit_price - b.unit_price, 1);
                }
                prop_assert_eq!(l.price_points.iter().map(|p| p.quantity).sum::<u32>(), l.quantity);
                prop_assert_eq!(l.price_points.iter().map(|p| p.unit_price * i64::from(p.quantity)).sum::<i64>(), l.amount);
                prop_assert!(l.price_points.iter().all(|p| p.unit_price >= 0));
                prop_assert!(l.amount >= 0 && l.discount >= 0);
            }

            // No negative amount; net + VAT = total; price points sum to the total (gross)
            // or to the net (net prices).
            prop_assert!(cart.net >= 0 && cart.vat >= 0 && cart.total >= 0 && cart.discount >= 0);
            prop_assert_eq!(cart.net + cart.vat, cart.total);
            let points: i64 = cart.lines.iter().flat_map(|l| &l.price_points).map(|p| p.unit_price * i64::from(p.quantity)).sum();
            match mode {
                VatMode::Inclusive => prop_assert_eq!(points, cart.total),
                VatMode::Exclusive => prop_assert_eq!(points, cart.net),
            }
            prop_assert_eq!(cart.subtotal - cart.discount, points);
            for g in &cart.vat_groups {
                prop_assert_eq!(g.net + g.vat, g.gross);
            }

            // The discount never exceeds what is eligible.
            prop_assert!(cart.discount <= cart.eligible_subtotal);
        }

        #[test]
        fn a_full_discount_is_free((lines, _promo, mode) in case()) {
            for discount in [Discount::Percentage(PercentOff::from_hundredths(10_000).unwrap()), Discount::FixedAmount(i64::MAX / 4)] {
                let cart = price(&lines, Some(&PromoDiscount { discount, event_id: None, minimum_subtotal: None }), mode).unwrap();
                prop_assert_eq!(cart.total, 0);
                prop_assert_eq!(cart.vat, 0);
            }
        }

        #[test]
        fn a_scoped_code_touches_only_its_event((lines, promo, mode) in case(), event in 1_i64..=3) {
            let scoped = PromoDiscount { event_id: Some(event), ..promo };
            let cart = price(&lines, Some(&scoped), mode).unwrap();
            for (l, input) in cart.lines.iter().zip(&lines) {
                if input.event_id != event {
                    prop_assert_eq!(l.discount, 0);
                    prop_assert_eq!(l.amount, input.unit_price * i64::from(input.quantity));
                }
            }
        }
    }
}
