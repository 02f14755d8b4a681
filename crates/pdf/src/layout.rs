//! Setting text down a page: headings, paragraphs and tables that wrap their cells, go on to
//! a new page when the page is full, and repeat their header there. Pages get a footer with
//! their number when the document is finished.

use crate::{Document, Grey, Page, Weight, text_width};

/// How a column's cells sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table column: its header, its share of the table's width and how its cells sit.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    pub weight: f32,
    pub align: Align,
}

impl Column {
    pub fn new(title: impl Into<String>, weight: f32, align: Align) -> Self {
        Column {
            title: title.into(),
            weight,
            align,
        }
    }
}

/// Break `text` into lines no wider than `width`: at spaces where it can, between Chinese
/// characters, and inside a word only when the word alone is too wide. Line breaks in the
/// text are kept.
pub fn wrap(text: &str, width: f32, size: f32, weight: Weight) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split('\n') {
        let chars: Vec<char> = para.chars().collect();
        let mut line: Vec<char> = Vec::new();
        // Where the current line may be cut: the length of `line` before the break.
        let mut cut: Option<usize> = None;
        for c in chars {
            if let Some(&prev) = line.last()
                && (prev == ' ' || !prev.is_ascii() || !c.is_ascii())
            {
                cut = Some(line.len());
            }
            line.push(c);
            while line.len() > 1
                && text_width(&line.iter().collect::<String>(), size, weight) > width
            {
                let at = cut
                    .filter(|n| *n > 0 && *n < line.len())
                    .unwrap_or(line.len() - 1);
                let rest = line.split_off(at);
                out.push(line.iter().collect::<String>().trim_end().to_owned());
                line = rest.into_iter().skip_while(|c| *c == ' ').collect();
                cut = None;
            }
        }
        out.push(line.iter().collect::<String>().trim_end().to_owned());
    }
    out
}

/// Text set from the top of the page down, a new page when one is full.
#[derive(Debug)]
pub struct Flow {
    doc: Document,
    size: (f32, f32),
    margin: f32,
    page: Page,
    /// The top of the free space, points from the bottom.
    y: f32,
    started: bool,
}

/// Leading: line height as a multiple of the font size.
const LEADING: f32 = 1.3;
/// Room kept at the bottom for the footer.
const FOOTER: f32 = 18.0;

impl Flow {
    pub fn new(size: (f32, f32), margin: f32) -> Self {
        Flow {
            doc: Document::new(),
            size,
            margin,
            page: Page::new(size),
            y: size.1 - margin,
            started: false,
        }
    }

    /// The document being set, e.g. to give it a title.
    pub fn document(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// The width between the margins.
    pub fn width(&self) -> f32 {
        self.size.0 - 2.0 * self.margin
    }

    fn bottom(&self) -> f32 {
        self.margin + FOOTER
    }

    /// Go on to a new page.
    pub fn new_page(&mut self) {
        let done = std::mem::replace(&mut self.page, Page::new(self.size));
        self.doc.push_page(done);
        self.y = self.size.1 - self.margin;
    }

    /// Make room for `h` points, on a new page if this one has less (unless it is still
    /// empty: then the content is simply too tall and runs over the bottom margin).
    fn need(&mut self, h: f32) {
        self.started = true;
        if self.y - h < self.bottom() && self.y < self.size.1 - self.margin {
            self.new_page();
        }
    }

    pub fn space(&mut self, h: f32) {
        self.y -= h;
    }

    /// Text across the page width, wrapped.
    pub fn paragraph(&mut self, size: f32, weight: Weight, text: &str) {
        let width = self.width();
        for line in wrap(text, width, size, weight) {
            let h = size * LEADING;
            self.need(h);
            self.y -= h;
            let (x, y) = (self.margin, self.y + size * 0.3);
            self.page.styled_text(x, y, size, weight, &line);
        }
    }

    /// A thin rule across the page.
    pub fn rule(&mut self) {
        self.need(6.0);
        self.y -= 3.0;
        let (l, r) = (self.margin, self.size.0 - self.margin);
        self.page.line((l, self.y), (r, self.y), 0.5);
        self.y -= 3.0;
    }

    /// A table across the page width: a shaded header row (repeated on each new page), then
    /// the rows, each as tall as its longest wrapped cell. Rows shorter than the header get
    /// empty cells; extra cells are dropped.
    pub fn table(&mut self, columns: &[Column], rows: &[Vec<String>], size: f32) {
        if columns.is_empty() {
            return;
        }
        let total: f32 = columns.iter().map(|c| c.weight.max(0.0)).sum::<f32>();
        let total = if total > 0.0 { total } else { 1.0 };
        let widths: Vec<f32> = columns
            .iter()
            .map(|c| c.weight.max(0.0) / total * self.width())
            .collect();
        let pad = 2.0;
        let header: Vec<String> = columns.iter().map(|c| c.title.clone()).collect();
        let lines_of = |cells: &[String], weight: Weight| -> Vec<Vec<String>> {
            widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let text = cells.get(i).map(String::as_str).unwrap_or("");
                    wrap(text, (w - 2.0 * pad).max(size), size, weight)
                })
                .collect()
        };
        let head_lines = lines_of(&header, Weight::Bold);
        let row_height = |lines: &[Vec<String>]| {
            lines.iter().map(Vec::len).max().unwrap_or(1) as f32 * size * LEADING + 2.0 * pad
        };
        let head_h = row_height(&head_lines);
        let draw_row = |flow: &mut Flow, lines: &[Vec<String>], h: f32, weight: Weight| {
            let top = flow.y;
            if weight == Weight::Bold {
                flow.page
                    .fill_rect(flow.margin, top - h, flow.width(), h, Grey(0.9));
            }
            let mut x = flow.margin;
            for (i, cell) in lines.iter().enumerate() {
                let w = widths[i];
                for (k, line) in cell.iter().enumerate() {
                    let base = top - pad - (k as f32 + 1.0) * size * LEADING + size * 0.3;
                    match columns[i].align {
                        Align::Left => flow.page.styled_text(x + pad, base, size, weight, line),
                        Align::Right => flow.page.text_right(x + w - pad, base, size, weight, line),
                    }
                }
                x += w;
            }
            flow.y -= h;
            let (l, r) = (flow.margin, flow.margin + flow.width());
            flow.page.line((l, flow.y), (r, flow.y), 0.25);
        };
        self.need(head_h + size * LEADING + 2.0 * pad);
        draw_row(self, &head_lines, head_h, Weight::Bold);
        for row in rows {
            let lines = lines_of(row, Weight::Regular);
            let h = row_height(&lines);
            if self.y - h < self.bottom() {
                self.new_page();
                draw_row(self, &head_lines, head_h, Weight::Bold);
            }
            draw_row(self, &lines, h, Weight::Regular);
        }
    }

    /// The document, each page with `footer` and "n / total" at its foot.
    pub fn finish(mut self, footer: &str) -> Document {
        if self.started || self.doc.pages().is_empty() {
            let last = std::mem::replace(&mut self.page, Page::new(self.size));
            self.doc.push_page(last);
        }
        let total = self.doc.pages().len();
        let (margin, width) = (self.margin, self.width());
        let mut doc = Document::new();
        if let Some(t) = &self.doc.title {
            doc.set_title(t);
        }
        if let Some(a) = &self.doc.author {
            doc.set_author(a);
        }
        for (i, mut p) in std::mem::take(&mut self.doc.pages).into_iter().enumerate() {
            let y = margin;
            p.text(margin, y, 7.0, footer);
            p.text_right(
                margin + width,
                y,
                7.0,
                Weight::Regular,
                &format!("{} / {total}", i + 1),
            );
            doc.push_page(p);
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::A4_PORTRAIT;

    #[test]
    fn wrapping_breaks_at_spaces_then_between_chinese_characters_then_inside_words() {
        let lines = wrap("loan 15.00 + express 15.00", 60.0, 10.0, Weight::Regular);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(
            lines
                .iter()
                .all(|l| text_width(l, 10.0, Weight::Regular) <= 60.0)
        );
        assert_eq!(lines.join(" "), "loan 15.00 + express 15.00");
        let lines = wrap("北辰大学图书馆", 35.0, 10.0, Weight::Regular);
        assert_eq!(lines, ["北辰大", "学图书", "馆"]);
        let lines = wrap("0190a1b2-c3d4-7e5f", 30.0, 10.0, Weight::Regular);
        assert!(lines.len() > 2 && lines.concat() == "0190a1b2-c3d4-7e5f");
        assert_eq!(wrap("", 30.0, 10.0, Weight::Regular), [""]);
        assert_eq!(wrap("a\nb", 30.0, 10.0, Weight::Regular), ["a", "b"]);
    }

    #[test]
    fn a_long_table_goes_on_to_new_pages_and_repeats_its_header() {
        let mut flow = Flow::new(A4_PORTRAIT, 40.0);
        flow.paragraph(14.0, Weight::Bold, "结算单 Statement");
        let cols = [
            Column::new("对方 Counterparty", 2.0, Align::Left),
            Column::new("净额 Net", 1.0, Align::Right),
        ];
        let rows: Vec<Vec<String>> = (0..200)
            .map(|i| vec![format!("L{i:04}"), format!("{i}.00")])
            .collect();
        flow.table(&cols, &rows, 9.0);
        let doc = flow.finish("BCU 2026-11");
        assert!(doc.pages().len() >= 3, "{}", doc.pages().len());
        let n = doc.pages().len();
        for (i, p) in doc.pages().iter().enumerate() {
            assert!(p.content.contains("<5BF965B9> Tj"), "header on page {i}");
            assert!(p.content.contains(&format!("({} / {n}) Tj", i + 1)));
        }
        crate::tests::check_structure(&doc.to_bytes());
    }
}
