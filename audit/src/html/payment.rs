//! The payment-by-groups section: per care region, the settlement's
//! facts, the groups' mean bills against their standards, and the
//! institutions' case mix, settlement against itemised cost and payment
//! signals; each table with a chart beside it.

use fundtrail_ledger::record::PaymentMethod;

use super::charts::{horizontal_bars, legend, Bar, BarGroup, Scale, PALETTE};
use super::sections::{code_html, empty, section};
use super::table::{html, num, Table};
use super::text::{count, escape, money};
use crate::report::{AuditReport, RegionPayment, PAYMENT_SIGNALS};

/// Colour of a flagged institution's case-mix bar.
const FLAGGED: &str = "#c0392b";

fn method_name(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Itemised => "by item",
        PaymentMethod::Drg => "DRG",
        PaymentMethod::Dip => "DIP",
    }
}

/// `15000` basis points → `1.50`.
fn hundredths(bp: u64) -> String {
    let h = (bp + 50) / 100;
    format!("{}.{:02}", h / 100, h % 100)
}

pub fn payment(report: &AuditReport) -> String {
    let lead = "Regions that pay institutions by diagnosis-related groups (DRG) or by \
                disease-and-procedure scores (DIP): each group's mean in-scope bill against its \
                standard, each institution's case mix and payment signals, and the year's \
                settlement by points (budget ÷ points = point value; retention and sharing \
                against itemised cost; amounts sum to the budget to the fen).";
    if report.payment.is_empty() {
        return section(
            "payment",
            "Payment by groups",
            lead,
            &empty("No region has a payment policy by groups."),
        );
    }
    let body: String = report.payment.iter().map(region).collect();
    section("payment", "Payment by groups", lead, &body)
}

fn region(r: &RegionPayment) -> String {
    let settled = match &r.settlement {
        Some(s) => format!(
            "settled at height {}: {} points, point value ¥{}, ¥{} paid",
            count(s.height.0),
            count(s.total_points),
            s.point_value,
            money(s.paid)
        ),
        None => "not settled".into(),
    };
    let refused = match r.settlements_refused {
        0 => String::new(),
        n => format!("; {} settlement(s) refused", count(n)),
    };
    format!(
        r#"<h3>{} · {} {} · budget ¥{}</h3><p class="muted">{}{}</p>{}{}"#,
        escape(r.region.as_str()),
        method_name(r.method),
        r.year,
        money(r.budget),
        escape(&settled),
        escape(&refused),
        groups(r),
        institutions(r)
    )
}

fn groups(r: &RegionPayment) -> String {
    let mut table = Table::new(&[
        "Group",
        "Points#",
        "Standard#",
        "Cases#",
        "Mean bill#",
        "Mean ÷ standard#",
    ]);
    let mut bars = Vec::new();
    for g in &r.groups {
        table.row(vec![
            html(code_html(g.code.as_str())),
            num(count(u64::from(g.points))),
            num(money(g.standard)),
            num(count(g.cases)),
            num(money(g.mean_bill)),
            num(hundredths(g.ratio_bp)),
        ]);
        bars.push(BarGroup {
            label: format!("{} ({} cases)", g.code, count(g.cases)),
            bars: vec![
                Bar {
                    value: g.mean_bill.fen(),
                    text: format!("¥{}", money(g.mean_bill)),
                    color: PALETTE[0],
                },
                Bar {
                    value: g.standard.fen(),
                    text: format!("¥{}", money(g.standard)),
                    color: PALETTE[1],
                },
            ],
        });
    }
    let label = format!("Mean bill against standard per group, region {}", r.region);
    format!(
        "{}{}{}",
        table.finish(),
        horizontal_bars(&bars, Scale::Money, &label),
        legend(&[
            ("mean in-scope bill".into(), PALETTE[0]),
            ("standard per case".into(), PALETTE[1]),
        ])
    )
}

fn institutions(r: &RegionPayment) -> String {
    let mut table = Table::new(&[
        "Institution",
        "Cases#",
        "Case mix#",
        "Points#",
        "Itemised cost#",
        "By standard#",
        "Settlement#",
        "Surplus#",
        "Overspend#",
        "Signals",
    ]);
    let mut mix = Vec::new();
    let mut paid = Vec::new();
    for i in &r.institutions {
        let flagged = i.signals.keys().any(|c| c.as_str() == "UPCODING");
        let signals: Vec<String> = PAYMENT_SIGNALS
            .iter()
            .filter_map(|code| {
                let n = i.signals.iter().find(|(c, _)| c.as_str() == *code)?.1;
                Some(format!("{}&nbsp;×{}", code_html(code), count(*n)))
            })
            .collect();
        let settled = |f: &dyn Fn(&crate::report::SettledRow) -> String| {
            num(i.settled.as_ref().map_or("—".into(), f))
        };
        table.row(vec![
            html(code_html(i.institution.as_str())),
            num(count(i.cases)),
            num(hundredths(i.case_mix_bp)),
            settled(&|s| count(s.points)),
            settled(&|s| money(s.itemised)),
            settled(&|s| money(s.entitled)),
            settled(&|s| money(s.amount)),
            settled(&|s| money(s.surplus)),
            settled(&|s| money(s.overspend)),
            html(signals.join("<br>")),
        ]);
        mix.push(BarGroup {
            label: i.institution.to_string(),
            bars: vec![Bar {
                value: i.case_mix_bp,
                text: if flagged {
                    format!("{} · upcoding flagged", hundredths(i.case_mix_bp))
                } else {
                    hundredths(i.case_mix_bp)
                },
                color: if flagged { FLAGGED } else { PALETTE[2] },
            }],
        });
        if let Some(s) = &i.settled {
            paid.push(BarGroup {
                label: i.institution.to_string(),
                bars: vec![
                    Bar {
                        value: s.amount.fen(),
                        text: format!("¥{}", money(s.amount)),
                        color: PALETTE[0],
                    },
                    Bar {
                        value: s.itemised.fen(),
                        text: format!("¥{}", money(s.itemised)),
                        color: PALETTE[4],
                    },
                ],
            });
        }
    }
    let mix_label = format!("Case-mix index per institution, region {}", r.region);
    let mut out = format!(
        "{}<h3>Case-mix index (1.00 = the region's mix)</h3>{}{}",
        table.finish(),
        horizontal_bars(&mix, Scale::Hundredths, &mix_label),
        legend(&[
            ("case-mix index".into(), PALETTE[2]),
            ("flagged for upcoding".into(), FLAGGED),
        ])
    );
    if !paid.is_empty() {
        let paid_label = format!("Settlement against itemised cost, region {}", r.region);
        out.push_str(&format!(
            "<h3>Settlement against itemised cost</h3>{}{}",
            horizontal_bars(&paid, Scale::Money, &paid_label),
            legend(&[
                ("settlement".into(), PALETTE[0]),
                ("itemised cost".into(), PALETTE[4]),
            ])
        ));
    }
    out
}
