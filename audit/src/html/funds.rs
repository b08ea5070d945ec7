//! The fund section: money in and out of every fund, the balances it
//! leaves, and net payouts by region and scheme.

use fundtrail_ledger::types::{Amount, FundKind};

use super::charts::{horizontal_bars, legend, proportion_bar, Bar, BarGroup, Scale, PALETTE};
use super::sections::{code_html, empty, section};
use super::table::{html, num, text, Cell, Table};
use super::text::{escape, money, percent};
use crate::report::{plus, AuditReport, FundFlow, PayoutScheme};

const CREDITED: &str = PALETTE[0];
const PAID: &str = PALETTE[1];
const TRANSFERRED: &str = PALETTE[4];

fn kind_name(kind: FundKind) -> &'static str {
    match kind {
        FundKind::Basic => "basic",
        FundKind::CriticalIllness => "critical illness",
        FundKind::Supplementary => "supplementary",
        FundKind::Assistance => "assistance",
    }
}

fn balance_cell(balance: Option<Amount>) -> Cell {
    match balance {
        Some(b) => num(money(b)),
        None => html(r#"<span class="neg">overdrawn</span>"#),
    }
}

pub fn funds(report: &AuditReport) -> String {
    let moved: Vec<&FundFlow> = report
        .funds
        .iter()
        .filter(|f| !f.inflow().is_zero() || !f.outflow().is_zero())
        .collect();
    let chart = if moved.is_empty() {
        empty("No fund has moved since the genesis.")
    } else {
        fund_chart(&moved)
    };
    let body = format!(
        "{chart}{}<h3>Payouts by region and scheme</h3>{}",
        fund_table(&report.funds),
        payout_table(report)
    );
    section(
        "funds",
        "Fund flows",
        "Opening balances from the genesis, then every accepted credit, transfer and payout, \
         and every accepted reversal of one. Payouts are net of reversals; rejected payouts move no money.",
        &body,
    )
}

fn fund_chart(funds: &[&FundFlow]) -> String {
    let groups: Vec<BarGroup> = funds
        .iter()
        .map(|f| {
            let credited = plus(f.budget_in, f.transfer_in);
            let bar = |amount: Amount, color| Bar {
                value: amount.fen(),
                text: money(amount),
                color,
            };
            BarGroup {
                label: f.fund_id.to_string(),
                bars: [
                    bar(credited, CREDITED),
                    bar(f.transfer_out, TRANSFERRED),
                    bar(f.paid_net(), PAID),
                ]
                .into_iter()
                .filter(|b| b.value > 0)
                .collect(),
            }
        })
        .filter(|g| !g.bars.is_empty())
        .collect();
    let items = [
        ("credited (budget and transfers in)".to_string(), CREDITED),
        ("transferred out".to_string(), TRANSFERRED),
        ("paid out, net of reversals".to_string(), PAID),
    ];
    format!(
        "{}{}",
        horizontal_bars(&groups, Scale::Money, "Money in and out of each fund, yuan"),
        legend(&items)
    )
}

fn fund_table(funds: &[FundFlow]) -> String {
    let credit_reversals = funds
        .iter()
        .any(|f| !f.credits_reversed.is_zero() || !f.transfers_returned.is_zero());
    let mut headings = vec![
        "Fund",
        "Opening#",
        "Budget in#",
        "Transfers in#",
        "Transfers out#",
    ];
    if credit_reversals {
        headings.extend(["Credits reversed#", "Transfers returned#"]);
    }
    headings.extend(["Paid (net)#", "Payouts reversed#", "Balance#"]);
    let mut table = Table::new(&headings);
    let mut total = FundTotals::default();
    for f in funds {
        total.add(f);
        let fund = format!(
            r#"<code>{}</code><br><span class="muted">{} · {}</span>"#,
            escape(f.fund_id.as_str()),
            kind_name(f.kind),
            escape(f.region.as_str())
        );
        let mut cells = vec![
            html(fund),
            num(money(f.opening_balance)),
            num(money(f.budget_in)),
            num(money(f.transfer_in)),
            num(money(f.transfer_out)),
        ];
        if credit_reversals {
            cells.extend([
                num(money(f.credits_reversed)),
                num(money(f.transfers_returned)),
            ]);
        }
        cells.extend([
            num(money(f.paid_net())),
            num(money(f.payouts_reversed)),
            balance_cell(f.balance),
        ]);
        table.row(cells);
    }
    table.total_row(total.cells(credit_reversals));
    table.finish()
}

#[derive(Default)]
struct FundTotals {
    opening: Amount,
    budget_in: Amount,
    transfer_in: Amount,
    transfer_out: Amount,
    credits_reversed: Amount,
    transfers_returned: Amount,
    paid_net: Amount,
    payouts_reversed: Amount,
    balance: Amount,
    overdrawn: bool,
}

impl FundTotals {
    fn add(&mut self, f: &FundFlow) {
        self.opening = plus(self.opening, f.opening_balance);
        self.budget_in = plus(self.budget_in, f.budget_in);
        self.transfer_in = plus(self.transfer_in, f.transfer_in);
        self.transfer_out = plus(self.transfer_out, f.transfer_out);
        self.credits_reversed = plus(self.credits_reversed, f.credits_reversed);
        self.transfers_returned = plus(self.transfers_returned, f.transfers_returned);
        self.paid_net = plus(self.paid_net, f.paid_net());
        self.payouts_reversed = plus(self.payouts_reversed, f.payouts_reversed);
        match f.balance {
            Some(b) => self.balance = plus(self.balance, b),
            None => self.overdrawn = true,
        }
    }

    fn cells(&self, credit_reversals: bool) -> Vec<Cell> {
        let mut cells = vec![
            text("All funds"),
            num(money(self.opening)),
            num(money(self.budget_in)),
            num(money(self.transfer_in)),
            num(money(self.transfer_out)),
        ];
        if credit_reversals {
            cells.extend([
                num(money(self.credits_reversed)),
                num(money(self.transfers_returned)),
            ]);
        }
        cells.extend([
            num(money(self.paid_net)),
            num(money(self.payouts_reversed)),
            balance_cell((!self.overdrawn).then_some(self.balance)),
        ]);
        cells
    }
}

fn payout_table(report: &AuditReport) -> String {
    let p = &report.payouts;
    if p.total.is_zero() {
        return empty("No payout stands.");
    }
    let mut headings = vec!["Fund region"];
    headings.extend([
        "Basic#",
        "Critical illness#",
        "Supplementary#",
        "Assistance#",
    ]);
    headings.push("Total#");
    let mut table = Table::new(&headings);
    for (region, row) in &p.by_region_and_scheme {
        let mut cells = vec![html(code_html(region.as_str()))];
        cells.extend(
            PayoutScheme::ALL
                .iter()
                .map(|s| num(money(row.get(s).copied().unwrap_or(Amount::ZERO)))),
        );
        cells.push(num(money(
            p.by_region.get(region).copied().unwrap_or_default(),
        )));
        table.row(cells);
    }
    let mut cells = vec![text("All regions")];
    cells.extend(
        PayoutScheme::ALL
            .iter()
            .map(|s| num(money(p.by_scheme.get(s).copied().unwrap_or_default()))),
    );
    cells.push(num(money(p.total)));
    table.total_row(cells);
    let parts: Vec<(u64, &str)> = PayoutScheme::ALL
        .iter()
        .zip(PALETTE)
        .map(|(s, color)| (p.by_scheme.get(s).map_or(0, |a| a.fen()), color))
        .collect();
    let items: Vec<(String, &str)> = PayoutScheme::ALL
        .iter()
        .zip(PALETTE)
        .map(|(s, color)| {
            let amount = p.by_scheme.get(s).copied().unwrap_or_default();
            let share = percent(amount.fen(), p.total.fen());
            (format!("{} {share}", s.name()), color)
        })
        .collect();
    format!(
        "{}{}{}",
        table.finish(),
        proportion_bar(&parts, "Share of net payouts by scheme"),
        legend(&items)
    )
}
