//! Charts for the statistics pages: small inline SVG drawn here by hand (horizontal bars, one
//! or two series), so a page needs no script and no charting library. Each chart names itself
//! (`<title>`, `<desc>`) for screen readers, and the page shows the same figures as a table
//! beside it; labels come in the page's language from the caller.

use std::fmt::Write;

/// Width of the drawing, in SVG units (it scales to the page).
const WIDTH: f64 = 720.0;
/// Room for the group labels on the left.
const LABEL_W: f64 = 200.0;
/// Room for the value after each bar.
const VALUE_W: f64 = 90.0;
const ROW_H: f64 = 22.0;
const TOP: f64 = 8.0;
const LEGEND_H: f64 = 24.0;
/// Labels longer than this many characters are cut (the full text is in the bar's title).
const LABEL_CHARS: usize = 22;

/// Colours of the series: dark enough on white for text contrast, told apart by lightness too.
const COLOURS: [&str; 2] = ["#1f5f99", "#d08a2c"];

/// One row of a chart: its label and a value per series (`None`: nothing to draw), with the
/// text shown after the bar.
pub struct Row {
    pub label: String,
    pub values: Vec<(Option<f64>, String)>,
}

/// Text safe inside SVG (XML) content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(LABEL_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// A horizontal bar chart. `id` must be unique on the page; `series` names each value of a
/// row (shown as a legend when there are two); bars are scaled to the largest value.
pub fn bars(id: &str, title: &str, desc: &str, series: &[&str], rows: &[Row]) -> String {
    let n_series = series.len().clamp(1, COLOURS.len());
    let legend = if n_series > 1 { LEGEND_H } else { 0.0 };
    let group_h = ROW_H * n_series as f64 + 6.0;
    let height = TOP + legend + group_h * rows.len().max(1) as f64 + 4.0;
    let max = rows
        .iter()
        .flat_map(|r| r.values.iter().filter_map(|(v, _)| *v))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let span = WIDTH - LABEL_W - VALUE_W;
    let id = escape(id);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" aria-labelledby="{id}-t {id}-d" font-family="sans-serif" font-size="13"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        escape(title),
        escape(desc)
    );
    if n_series > 1 {
        let mut x = LABEL_W;
        for (i, name) in series.iter().take(n_series).enumerate() {
            let _ = write!(
                s,
                r##"<rect x="{x}" y="{TOP}" width="12" height="12" fill="{}"/><text x="{}" y="{}" fill="#222">{}</text>"##,
                COLOURS[i],
                x + 16.0,
                TOP + 11.0,
                escape(name)
            );
            x += 16.0 + 14.0 * name.chars().count().max(4) as f64 * 0.8 + 24.0;
        }
    }
    if rows.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{LABEL_W}" y="{}" fill="#555">–</text>"##,
            TOP + legend + 15.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y0 = TOP + legend + group_h * i as f64;
        let full = escape(&r.label);
        let _ = write!(
            s,
            r##"<g><title>{full}</title><text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>"##,
            LABEL_W - 8.0,
            y0 + ROW_H * n_series as f64 / 2.0 + 4.0,
            escape(&clip(&r.label))
        );
        for (j, (v, text)) in r.values.iter().take(n_series).enumerate() {
            let y = y0 + ROW_H * j as f64;
            let w = match v {
                Some(v) if max > 0.0 && v.is_finite() && *v > 0.0 => (v / max * span).max(1.0),
                _ => 0.0,
            };
            let _ = write!(
                s,
                r##"<rect x="{LABEL_W}" y="{}" width="{w:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}" fill="#222">{}</text>"##,
                y + 2.0,
                ROW_H - 5.0,
                COLOURS[j],
                LABEL_W + w + 6.0,
                y + ROW_H - 7.0,
                escape(text)
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_named_escaped_and_scaled_to_its_largest_value() {
        let rows = vec![
            Row {
                label: "<Nature & Science>".into(),
                values: vec![(Some(10.0), "10".into())],
            },
            Row {
                label: "一个非常非常非常非常非常非常非常长的期刊名称用来测试截断".into(),
                values: vec![(Some(5.0), "5".into())],
            },
            Row {
                label: "none".into(),
                values: vec![(None, "–".into())],
            },
        ];
        let svg = bars(
            "c1",
            "Requests by journal",
            "3 journals",
            &["Requests"],
            &rows,
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains(r#"aria-labelledby="c1-t c1-d""#));
        assert!(svg.contains(r#"<title id="c1-t">Requests by journal</title>"#));
        assert!(svg.contains("&lt;Nature &amp; Science&gt;"));
        assert!(!svg.contains("<Nature"));
        assert!(svg.contains(r#"width="430.0""#), "{svg}");
        assert!(svg.contains(r#"width="215.0""#), "{svg}");
        assert!(svg.contains('…'));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn two_series_get_a_legend_and_nothing_to_draw_is_no_panic() {
        let svg = bars("c2", "t", "d", &["median", "90th"], &[]);
        assert!(svg.contains("median") && svg.contains("90th"));
        let rows = vec![Row {
            label: "x".into(),
            values: vec![(Some(f64::NAN), "?".into()), (Some(0.0), "0".into())],
        }];
        let svg = bars("c3", "t", "d", &["a", "b"], &rows);
        assert!(svg.contains(r#"width="0.0""#));
    }
}
