//! A small PDF writer for statements, invoices and cover pages: pages of positioned text,
//! rules and shaded boxes, plus a [`layout::Flow`] that sets headings and tables with page
//! breaks.
//!
//! Latin text is set in Helvetica, everything else (Chinese above all) in STSong-Light with the
//! UniGB-UCS2-H encoding: both are standard fonts every PDF reader supplies, so nothing is
//! embedded and a statement stays a few kilobytes. A ToUnicode map goes with the Chinese font so
//! that text can be searched and copied. Nothing in the file depends on the clock: the document
//! ID is a hash of the content, so the same input always gives the same bytes.

#![forbid(unsafe_code)]

pub mod layout;
pub mod stamp;

use std::fmt::Write as _;

/// A4 in points (1/72 inch).
pub const A4_PORTRAIT: (f32, f32) = (595.28, 841.89);
pub const A4_LANDSCAPE: (f32, f32) = (841.89, 595.28);

/// Which face a piece of text is set in. Chinese text has one weight only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weight {
    #[default]
    Regular,
    Bold,
}

/// A grey level, 0.0 black to 1.0 white.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grey(pub f32);

/// One page: its size and its content stream.
#[derive(Debug, Clone)]
pub struct Page {
    width: f32,
    height: f32,
    content: String,
}

/// A document: pages in order and an optional title.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pages: Vec<Page>,
    title: Option<String>,
    author: Option<String>,
}

// The fonts' names inside the file.
const F_REGULAR: &str = "F1";
const F_BOLD: &str = "F2";
const F_CJK: &str = "F3";

/// Which font a character is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Latin,
    Cjk,
}

fn face(c: char) -> Face {
    // Latin-1 letters (é, ü, ß, ø, ñ …) and the euro sign are in Helvetica's WinAnsi
    // encoding; many are not in the Chinese font at all.
    if (' '..='~').contains(&c) || ('\u{A0}'..='\u{FF}').contains(&c) || c == '€' {
        Face::Latin
    } else {
        Face::Cjk
    }
}

/// What is drawn for a character the fonts cannot show: control characters become spaces,
/// characters beyond the Basic Multilingual Plane (UCS-2 cannot encode them) a question mark.
fn printable(c: char) -> char {
    if c.is_control() {
        ' '
    } else if u32::from(c) > 0xFFFF {
        '?'
    } else {
        c
    }
}

/// Helvetica's widths (thousandths of the size) for ' ' to '~', from Adobe's metrics.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Helvetica-Bold's widths for ' ' to '~'.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// The width of one character in thousandths of the font size. The Chinese font is declared
/// with every glyph 1000 wide, so what is measured here is what the reader draws.
fn char_width(c: char, weight: Weight) -> u16 {
    let c = printable(c);
    match face(c) {
        Face::Latin if u32::from(c) >= 0xA0 => latin1_width(c),
        Face::Latin => {
            let i = (u32::from(c) - 0x20) as usize;
            let table = match weight {
                Weight::Regular => &HELVETICA,
                Weight::Bold => &HELVETICA_BOLD,
            };
            table.get(i).copied().unwrap_or(556)
        }
        Face::Cjk => 1000,
    }
}

/// Helvetica's widths for the Latin-1 letters (Adobe's metrics; the bold face differs by a
/// few units, which a table does not notice) and the euro sign.
fn latin1_width(c: char) -> u16 {
    match c {
        '\u{A0}' => 278,
        'À'..='Å' | 'È'..='Ë' | 'Ý' | 'Þ' => 667,
        'Æ' => 1000,
        'Ç' | 'Ð' | 'Ñ' | 'Ù'..='Ü' => 722,
        'Ì'..='Ï' | 'ì'..='ï' => 278,
        'Ò'..='Ö' | 'Ø' => 778,
        '×' | '÷' => 584,
        'ß' | 'ø' => 611,
        'æ' => 889,
        'ç' | 'ý' | 'ÿ' => 500,
        '©' | '®' => 737,
        '°' => 400,
        _ => 556,
    }
}

/// The width of `text` in points at `size`.
pub fn text_width(text: &str, size: f32, weight: Weight) -> f32 {
    let units: u32 = text.chars().map(|c| u32::from(char_width(c, weight))).sum();
    units as f32 * size / 1000.0
}

/// A number as PDF writes it: at most two decimals, no exponent, no "-0".
fn num(v: f32) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let r = (v * 100.0).round() / 100.0;
    let s = format!("{r:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A Latin run as a literal string.
fn latin_literal(run: &str) -> String {
    let mut out = String::with_capacity(run.len() + 2);
    out.push('(');
    for c in run.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // WinAnsi: Latin-1 as its own byte, the euro sign as 0x80, written in octal.
            '€' => out.push_str("\\200"),
            c if u32::from(c) >= 0xA0 => {
                let _ = write!(out, "\\{:03o}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push(')');
    out
}

/// A Chinese run as UTF-16BE hex, which UniGB-UCS2-H reads as Unicode code units.
fn cjk_hex(run: &str) -> String {
    let mut out = String::with_capacity(run.len() * 4 + 2);
    out.push('<');
    for c in run.chars() {
        let _ = write!(out, "{:04X}", u32::from(c));
    }
    out.push('>');
    out
}

/// A text string for the document information: UTF-16BE with a byte order mark.
fn info_string(s: &str) -> String {
    let mut out = String::from("<FEFF");
    for u in s.encode_utf16() {
        let _ = write!(out, "{u:04X}");
    }
    out.push('>');
    out
}

impl Page {
    pub fn new(size: (f32, f32)) -> Self {
        Page {
            width: size.0,
            height: size.1,
            content: String::new(),
        }
    }

    pub fn width(&self) -> f32 {
        self.width
    }

    pub fn height(&self) -> f32 {
        self.height
    }

    /// Text with its baseline starting at (`x`, `y`), points from the bottom left corner.
    pub fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        self.styled_text(x, y, size, Weight::Regular, text);
    }

    /// Bold text (the Latin parts; Chinese has one weight).
    pub fn bold_text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        self.styled_text(x, y, size, Weight::Bold, text);
    }

    /// Text ending at `right` (numbers in a column).
    pub fn text_right(&mut self, right: f32, y: f32, size: f32, weight: Weight, text: &str) {
        let w = text_width(text, size, weight);
        self.styled_text(right - w, y, size, weight, text);
    }

    /// Text in runs of one font each; every run is placed where the previous one ended.
    pub fn styled_text(&mut self, x: f32, y: f32, size: f32, weight: Weight, text: &str) {
        let chars: Vec<char> = text.chars().map(printable).collect();
        if chars.iter().all(|c| *c == ' ') {
            return;
        }
        let latin_font = match weight {
            Weight::Regular => F_REGULAR,
            Weight::Bold => F_BOLD,
        };
        let mut ops = String::from("BT\n");
        let mut at = x;
        let mut start = 0;
        while start < chars.len() {
            let f = face(chars[start]);
            let end = chars[start..]
                .iter()
                .position(|c| face(*c) != f)
                .map_or(chars.len(), |n| start + n);
            let run: String = chars[start..end].iter().collect();
            let (font, shown) = match f {
                Face::Latin => (latin_font, latin_literal(&run)),
                Face::Cjk => (F_CJK, cjk_hex(&run)),
            };
            let _ = writeln!(
                ops,
                "/{font} {} Tf 1 0 0 1 {} {} Tm {shown} Tj",
                num(size),
                num(at),
                num(y)
            );
            at += text_width(&run, size, weight);
            start = end;
        }
        ops.push_str("ET\n");
        self.content.push_str(&ops);
    }

    /// A straight line `width` points thick.
    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32) {
        let _ = writeln!(
            self.content,
            "{} w 0 G {} {} m {} {} l S",
            num(width),
            num(from.0),
            num(from.1),
            num(to.0),
            num(to.1)
        );
    }

    /// A filled rectangle from its bottom left corner.
    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: Grey) {
        let _ = writeln!(
            self.content,
            "q {} g {} {} {} {} re f Q",
            num(grey.0.clamp(0.0, 1.0)),
            num(x),
            num(y),
            num(w),
            num(h)
        );
    }
}

/// The fonts every page may use, as five file objects numbered from `first` (3 to 7 in
/// [`Document::to_bytes`]); the ToUnicode map of the Chinese font is object `first + 5`.
fn font_objects(first: usize) -> [String; 5] {
    [
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_owned(),
        format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light-UniGB-UCS2-H /Encoding /UniGB-UCS2-H /DescendantFonts [{} 0 R] /ToUnicode {} 0 R >>",
            first + 3,
            first + 5
        ),
        format!(
            "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor {} 0 R /DW 1000 >>",
            first + 4
        ),
        "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 626 /StemV 93 >>".to_owned(),
    ]
}

/// The ToUnicode map of the Chinese font: each UCS-2 code is its own Unicode value.
fn to_unicode_cmap() -> String {
    let mut s = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    // Ranges may only vary in their last byte; the surrogate block maps to nothing.
    let highs: Vec<u32> = (0u32..=0xFF)
        .filter(|h| !(0xD8..=0xDF).contains(h))
        .collect();
    for chunk in highs.chunks(100) {
        let _ = writeln!(s, "{} beginbfrange", chunk.len());
        for h in chunk {
            let _ = writeln!(s, "<{h:02X}00> <{h:02X}FF> <{h:02X}00>");
        }
        s.push_str("endbfrange\n");
    }
    s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    s
}

/// Two 64-bit FNV-1a hashes with different offsets: a stable 16-byte ID for the content.
fn content_id(bytes: &[u8]) -> String {
    let mut out = String::new();
    for offset in [0xcbf2_9ce4_8422_2325_u64, 0x6c62_272e_07bb_0142] {
        let mut h = offset;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let _ = write!(out, "{h:016X}");
    }
    out
}

impl Document {
    pub fn new() -> Self {
        Self::default()
    }

    /// The title readers show in their window and document properties.
    pub fn set_title(&mut self, title: &str) {
        self.title = Some(title.to_owned());
    }

    pub fn set_author(&mut self, author: &str) {
        self.author = Some(author.to_owned());
    }

    /// Append a page and give it back to draw on.
    pub fn add_page(&mut self, size: (f32, f32)) -> &mut Page {
        self.pages.push(Page::new(size));
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Append a page drawn elsewhere.
    pub fn push_page(&mut self, page: Page) {
        self.pages.push(page);
    }

    pub fn pages(&self) -> &[Page] {
        &self.pages
    }

    /// The file. Objects: 1 catalog, 2 page tree, 3–7 fonts, 8 the ToUnicode map, 9 the
    /// document information, then a page and its content stream for each page. A document
    /// without pages gets one blank A4 page (a PDF needs one).
    pub fn to_bytes(&self) -> Vec<u8> {
        let blank = [Page::new(A4_PORTRAIT)];
        let pages: &[Page] = if self.pages.is_empty() {
            &blank
        } else {
            &self.pages
        };
        let first_page = 10;
        let kids: Vec<String> = (0..pages.len())
            .map(|i| format!("{} 0 R", first_page + 2 * i))
            .collect();
        let mut objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {} >>",
                kids.join(" "),
                pages.len()
            )
            .into_bytes(),
        ];
        objects.extend(font_objects(3).into_iter().map(String::into_bytes));
        objects.push(stream(to_unicode_cmap().as_bytes()));
        let mut info = String::from("<< /Producer (librelay)");
        if let Some(t) = &self.title {
            let _ = write!(info, " /Title {}", info_string(t));
        }
        if let Some(a) = &self.author {
            let _ = write!(info, " /Author {}", info_string(a));
        }
        info.push_str(" >>");
        objects.push(info.into_bytes());
        for (i, p) in pages.iter().enumerate() {
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /{F_REGULAR} 3 0 R /{F_BOLD} 4 0 R /{F_CJK} 5 0 R >> >> /Contents {} 0 R >>",
                    num(p.width),
                    num(p.height),
                    first_page + 2 * i + 1
                )
                .into_bytes(),
            );
            objects.push(stream(p.content.as_bytes()));
        }

        // A binary comment in the header tells transfer programs the file is not text.
        let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let id = content_id(&out);
        let xref = out.len();
        let mut tail = format!("xref\n0 {}\n0000000000 65535 f\r\n", objects.len() + 1);
        for o in &offsets {
            let _ = write!(tail, "{o:010} 00000 n\r\n");
        }
        let _ = write!(
            tail,
            "trailer\n<< /Size {} /Root 1 0 R /Info 9 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        out.extend_from_slice(tail.as_bytes());
        out
    }
}

fn stream(data: &[u8]) -> Vec<u8> {
    let mut s = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
    s.extend_from_slice(data);
    s.extend_from_slice(b"\nendstream");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_letters_and_the_euro_are_set_in_helvetica() {
        assert_eq!(face('é'), Face::Latin);
        assert_eq!(face('€'), Face::Latin);
        assert_eq!(face('中'), Face::Cjk);
        assert_eq!(
            latin_literal("Café (Köln) 5€"),
            "(Caf\\351 \\(K\\366ln\\) 5\\200)"
        );
        assert_eq!(char_width('é', Weight::Regular), 556);
        assert_eq!(char_width('Ø', Weight::Regular), 778);
    }

    /// The byte offsets the xref table gives, checked against where each object starts.
    pub(crate) fn check_structure(pdf: &[u8]) -> usize {
        let find_last = |needle: &[u8]| {
            pdf.windows(needle.len())
                .rposition(|w| w == needle)
                .unwrap()
        };
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let sx = find_last(b"startxref\n") + 10;
        let tail = std::str::from_utf8(&pdf[sx..]).unwrap();
        let xref: usize = tail.lines().next().unwrap().parse().unwrap();
        assert!(pdf[xref..].starts_with(b"xref\n0 "));
        let table = std::str::from_utf8(&pdf[xref..]).unwrap();
        let head = table.lines().nth(1).unwrap();
        let count: usize = head.split(' ').nth(1).unwrap().parse().unwrap();
        // Every entry is exactly 20 bytes.
        let entries = &pdf[xref + 5 + head.len() + 1..];
        assert!(entries.starts_with(b"0000000000 65535 f\r\n"));
        for n in 1..count {
            let e = &entries[n * 20..n * 20 + 20];
            assert!(
                e.ends_with(b" 00000 n\r\n"),
                "{:?}",
                String::from_utf8_lossy(e)
            );
            let off: usize = std::str::from_utf8(&e[..10]).unwrap().parse().unwrap();
            assert!(
                pdf[off..].starts_with(format!("{n} 0 obj\n").as_bytes()),
                "object {n} is not at {off}"
            );
        }
        assert!(entries[count * 20..].starts_with(b"trailer\n"));
        count
    }

    #[test]
    fn text_is_split_into_latin_and_chinese_runs() {
        let mut doc = Document::new();
        let p = doc.add_page(A4_PORTRAIT);
        p.text(50.0, 800.0, 12.0, "北辰 Library (BCU) 图书馆");
        let c = &doc.pages()[0].content;
        assert!(
            c.contains("/F3 12 Tf 1 0 0 1 50 800 Tm <53178FB0> Tj"),
            "{c}"
        );
        assert!(c.contains("( Library \\(BCU\\) ) Tj"), "{c}");
        assert!(c.contains("<56FE4E669986> Tj"), "{c}");
    }

    #[test]
    fn xref_offsets_point_at_their_objects_and_the_same_input_gives_the_same_bytes() {
        let make = || {
            let mut doc = Document::new();
            doc.set_title("结算单 Statement");
            for i in 0..3 {
                let p = doc.add_page(A4_LANDSCAPE);
                p.bold_text(40.0, 550.0, 14.0, &format!("第 {i} 页 Page {i}"));
                p.line((40.0, 540.0), (800.0, 540.0), 0.5);
                p.fill_rect(40.0, 500.0, 100.0, 12.0, Grey(0.9));
            }
            doc.to_bytes()
        };
        let a = make();
        assert_eq!(check_structure(&a), 9 + 2 * 3 + 1);
        assert_eq!(a, make());
        assert!(String::from_utf8_lossy(&a).contains("/Title <FEFF7ED37B9753550020"));
    }

    #[test]
    fn a_pdf_reader_extracts_the_chinese_and_latin_text() {
        let mut flow = layout::Flow::new(A4_PORTRAIT, 40.0);
        flow.paragraph(
            14.0,
            Weight::Bold,
            "北辰大学图书馆 Beichen University Library",
        );
        flow.table(
            &[
                layout::Column::new("对方 Counterparty", 2.0, layout::Align::Left),
                layout::Column::new("净额 Net", 1.0, layout::Align::Right),
            ],
            &[vec![
                "清算中心 clearing centre".to_owned(),
                "-30.00".to_owned(),
            ]],
            9.0,
        );
        let pdf = flow.finish("BCU 2026-11").to_bytes();
        let path = std::env::temp_dir().join(format!("pdf-crate-test-{}.pdf", std::process::id()));
        std::fs::write(&path, &pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .args(["-enc", "UTF-8"])
            .arg(&path)
            .arg("-")
            .output();
        let _ = std::fs::remove_file(&path);
        let Ok(out) = out else {
            println!(
                "note: pdftotext (poppler-utils) is not installed; text extraction not checked"
            );
            return;
        };
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("北辰大学图书馆"), "{text}");
        assert!(text.contains("Beichen University Library"), "{text}");
        assert!(text.contains("清算中心"), "{text}");
        assert!(text.contains("-30.00"), "{text}");
    }

    #[test]
    fn an_empty_document_still_has_a_page() {
        let pdf = Document::new().to_bytes();
        assert_eq!(check_structure(&pdf), 12);
    }

    #[test]
    fn widths_follow_the_fonts() {
        assert_eq!(text_width("0", 10.0, Weight::Regular), 5.56);
        assert_eq!(text_width("图书", 10.0, Weight::Regular), 20.0);
        assert_eq!(text_width("\u{1F600}", 10.0, Weight::Regular), 5.56);
        assert!(text_width("Mi", 10.0, Weight::Bold) > text_width("Mi", 10.0, Weight::Regular));
    }

    #[test]
    fn numbers_are_short_and_never_negative_zero() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(595.28), "595.28");
        assert_eq!(num(f32::NAN), "0");
    }
}
