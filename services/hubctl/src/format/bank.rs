//! A reference bank as people read it: an account, and the freezes its ledger holds.

use enforcement_proto::reference as admin;

use super::{
    date,
    layout::{dash_if_empty, labelled, table},
    money, short_id,
};

/// Bank freezes as a table, one row each.
pub fn freeze_table(freezes: &[admin::LedgerFreeze]) -> String {
    let header = [
        "MEASURE",
        "ACCOUNT",
        "COURT",
        "CASE",
        "STATE",
        "AMOUNT",
        "FROZEN",
        "WAITING",
        "EXPIRES (UTC+08:00)",
        "BANK REF",
    ];
    let rows = freezes
        .iter()
        .map(|f| {
            vec![
                short_id(&f.measure_id),
                f.account_number.clone(),
                f.court_code.clone(),
                f.case_number.clone(),
                f.state.clone(),
                money(f.amount_fen),
                money(f.frozen_fen),
                if f.waiting_position > 0 {
                    f.waiting_position.to_string()
                } else {
                    "-".into()
                },
                date(f.expires_at.as_ref()),
                dash_if_empty(&f.registration_number),
            ]
        })
        .collect::<Vec<_>>();
    table(&header, &rows, &[5, 6])
}

/// An account of a reference bank.
pub fn account(a: &admin::Account) -> String {
    let available = a.balance_fen.saturating_sub(a.frozen_fen);
    labelled(&[
        ("account", a.account_number.clone()),
        ("holder", format!("{} ({})", a.holder_name, a.holder_id)),
        ("balance", money(a.balance_fen)),
        ("frozen", money(a.frozen_fen)),
        ("available", money(available)),
        ("status", if a.closed { "closed" } else { "open" }.into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::layout::display_width;

    #[test]
    fn bank_freezes_line_up_under_their_headers_despite_chinese_case_numbers() {
        let freeze = |court: &str, case: &str| admin::LedgerFreeze {
            measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
            account_number: "6222020200000000001".into(),
            court_code: court.into(),
            case_number: case.into(),
            state: "effective".into(),
            amount_fen: 100,
            frozen_fen: 100,
            ..Default::default()
        };
        let text = freeze_table(&[
            freeze("京0105", "（2024）京0105执1号"),
            freeze("粤03", "（2024）粤03执12号"),
        ]);
        let columns: Vec<usize> = text
            .lines()
            .map(|line| {
                let at = line.find("effective").or_else(|| line.find("STATE"));
                display_width(&line[..at.unwrap_or(0)])
            })
            .collect();
        assert_eq!(columns.len(), 3);
        assert!(columns.iter().all(|c| *c == columns[0]), "{text}");
    }
}
