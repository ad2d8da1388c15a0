//! Text laid out in columns: widths in terminal columns (a 汉字 takes two), labelled blocks and
//! plain-text tables, for everything [`super`] shows.

/// How many terminal columns `text` takes: East Asian wide and full-width characters (汉字,
/// （）, 。) take two, everything else one. Enough for aligning case numbers, names and codes.
pub fn display_width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

/// East Asian Wide or Fullwidth (Unicode TR 11), for the blocks hub data uses.
fn is_wide(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1100..=0x115F // Hangul Jamo
            | 0x2E80..=0x303E // CJK radicals, punctuation (、。「」)
            | 0x3041..=0x33FF // kana, CJK symbols
            | 0x3400..=0x4DBF // CJK extension A
            | 0x4E00..=0x9FFF // CJK unified ideographs
            | 0xA000..=0xA4CF // Yi
            | 0xAC00..=0xD7A3 // Hangul syllables
            | 0xF900..=0xFAFF // CJK compatibility ideographs
            | 0xFE30..=0xFE4F // CJK compatibility forms
            | 0xFF00..=0xFF60 // full-width forms (（）)
            | 0xFFE0..=0xFFE6 // full-width signs
            | 0x20000..=0x3FFFD // CJK extensions B and later
    )
}

/// `text` padded with spaces to `width` terminal columns, on the right or (amounts) the left.
fn pad(text: &str, width: usize, right_align: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(display_width(text)));
    if right_align {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// Lines of `label  value` with the values aligned.
pub fn labelled(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(label, _)| display_width(label))
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{}  {value}", pad(label, width, false)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A plain-text table with columns two spaces apart, aligned in terminal columns (a case
/// number's 汉字 take two each); columns in `right` are right-aligned (amounts).
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(display_width(cell));
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .enumerate()
            .map(|(i, cell)| {
                let width = widths.get(i).copied().unwrap_or(0);
                pad(cell, width, right.contains(&i))
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(&mut header.iter().copied())];
    for row in rows {
        out.push(line(&mut row.iter().map(String::as_str)));
    }
    out.join("\n")
}

/// The text, or `-` for an empty cell.
pub fn dash_if_empty(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_takes_two_columns_per_character() {
        assert_eq!(display_width("ICBC"), 4);
        assert_eq!(display_width("京0105"), 6);
        assert_eq!(display_width("（2024）京0105执1号"), 19);
        assert_eq!(pad("京", 4, false), "京  ");
        assert_eq!(pad("1.00", 6, true), "  1.00");
    }
}
