//! A page put in front of a PDF made elsewhere (the copyright cover of a delivered copy),
//! written as an incremental update: the original bytes stay exactly as they are, and new
//! objects (the page, its fonts, a new version of the page tree's root) and a cross-reference
//! section are appended after them.
//!
//! Why not a PDF library: a delivered copy is often a 50 MB scan, and its cover says how often
//! it was opened, so it differs on every view. Reading the file's structure once ([`plan`]:
//! the last cross-reference section, the catalog and the page tree's root, wherever they are,
//! in the file or inside a compressed object stream) and keeping the small [`Plan`] lets each
//! view append a few kilobytes ([`Plan::update`]) to bytes that are streamed unchanged, instead
//! of loading, parsing and rewriting the whole file every time.
//!
//! Files with classic cross-reference tables, cross-reference streams and object streams
//! (PDF 1.5 and later, what most producers write today), hybrid files and earlier incremental
//! updates are handled. An encrypted file (its new objects would have to be encrypted too) or
//! one whose structure cannot be read is refused with the reason: it is then delivered as it is.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Read as _;

use serde::{Deserialize, Serialize};

use crate::{
    F_BOLD, F_CJK, F_REGULAR, Page, content_id, font_objects, num, stream, to_unicode_cmap,
};

/// Why a file gets no cover page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The file is encrypted (even with an empty password).
    Encrypted,
    /// Its structure cannot be read: what was wrong and where.
    Broken(String),
    /// It is readable but uses something this writer does not handle.
    Unsupported(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Encrypted => write!(f, "the file is encrypted"),
            Refusal::Broken(why) => write!(f, "the file's structure cannot be read: {why}"),
            Refusal::Unsupported(why) => write!(f, "the file uses {why}, which is not handled"),
        }
    }
}

impl std::error::Error for Refusal {}

/// What an update needs to know of the original file, read once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The length of the file this plan was made for: the update is appended at this offset.
    pub file_len: u64,
    /// The file does not end with a line end, so the update starts with one.
    pub needs_eol: bool,
    /// Where the file's last cross-reference section starts (the update's `/Prev`).
    pub prev_xref: u64,
    /// The first object number the update may use.
    pub first_free: u64,
    /// The last section is a cross-reference stream, so the update's is one too.
    pub xref_stream: bool,
    pub root: (u64, u64),
    pub info: Option<(u64, u64)>,
    /// The first half of the file's ID, in hex (kept, as the standard asks of an update).
    pub id: Option<String>,
    /// The page tree's root: its object number and generation, its entries other than
    /// `/Kids` and `/Count` written out again, its children and page count.
    pub pages: (u64, u64),
    pub pages_entries: String,
    pub kids: Vec<(u64, u64)>,
    pub count: i64,
}

/// Where a file's bytes are read from: the whole file in memory, or a stored object read a
/// range at a time, so that a large copy's structure is read without holding all of it.
pub trait Source {
    /// The file's length in bytes.
    fn size(&self) -> u64;
    /// The bytes from offset `at`: at least `want` of them, or all up to the end of the file
    /// (more may be given). The error says what failed.
    fn read_at(&self, at: u64, want: usize) -> Result<Cow<'_, [u8]>, String>;
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, at: u64, _want: usize) -> Result<Cow<'_, [u8]>, String> {
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        Ok(Cow::Borrowed(self.get(at..).unwrap_or_default()))
    }
}

/// Read what an update of `bytes` needs.
pub fn plan(bytes: &[u8]) -> Result<Plan, Refusal> {
    plan_from(bytes)
}

/// Read what an update of the file in `src` needs, reading only the parts of it that the
/// structure names (its head, its tail, the cross-reference sections, the catalog and the
/// page tree's root): a few windows of the file, not all of it.
pub fn plan_from<S: Source + ?Sized>(src: &S) -> Result<Plan, Refusal> {
    // The header may follow some junk, within the first kilobyte.
    let head = read_window(src, 0, 1024)?;
    if find(head.get(..1024).unwrap_or(&head), b"%PDF-").is_none() {
        return Err(Refusal::Broken("no %PDF- header".to_owned()));
    }
    drop(head);
    let file = File::read(src)?;
    if file.trailer.get("Encrypt").is_some() {
        return Err(Refusal::Encrypted);
    }
    let root = match file.trailer.get("Root") {
        Some(Obj::Ref(n, g)) => (*n, *g),
        _ => {
            return Err(Refusal::Broken(
                "the trailer names no catalog (/Root)".to_owned(),
            ));
        }
    };
    let info = match file.trailer.get("Info") {
        Some(Obj::Ref(n, g)) => Some((*n, *g)),
        _ => None,
    };
    let id = match file.trailer.get("ID") {
        Some(Obj::Array(a)) => match a.first() {
            Some(Obj::Str(s)) => Some(s.iter().fold(String::new(), |mut o, b| {
                let _ = write!(o, "{b:02X}");
                o
            })),
            _ => None,
        },
        _ => None,
    };
    let size = match file.trailer.get("Size") {
        Some(Obj::Int(n)) if *n > 0 => *n as u64,
        _ => return Err(Refusal::Broken("the trailer has no /Size".to_owned())),
    };
    let catalog = file.resolve(root.0)?;
    let Obj::Dict(catalog) = catalog else {
        return Err(Refusal::Broken(format!(
            "object {} (the catalog) is not a dictionary",
            root.0
        )));
    };
    let pages = match catalog.get("Pages") {
        Some(Obj::Ref(n, g)) => (*n, *g),
        _ => {
            return Err(Refusal::Broken(
                "the catalog has no page tree (/Pages)".to_owned(),
            ));
        }
    };
    let Obj::Dict(tree) = file.resolve(pages.0)? else {
        return Err(Refusal::Broken(format!(
            "object {} (the page tree) is not a dictionary",
            pages.0
        )));
    };
    if !matches!(tree.get("Type"), Some(Obj::Name(n)) if n == b"Pages") {
        return Err(Refusal::Unsupported(
            "a catalog whose /Pages is not a page tree node".to_owned(),
        ));
    }
    let kids_obj = match tree.get("Kids") {
        Some(Obj::Ref(n, _)) => file.resolve(*n)?,
        Some(o) => o.clone(),
        None => return Err(Refusal::Broken("the page tree has no /Kids".to_owned())),
    };
    let Obj::Array(kids_arr) = kids_obj else {
        return Err(Refusal::Broken(
            "the page tree's /Kids is not an array".to_owned(),
        ));
    };
    let mut kids = Vec::with_capacity(kids_arr.len());
    for k in &kids_arr {
        match k {
            Obj::Ref(n, g) => kids.push((*n, *g)),
            _ => {
                return Err(Refusal::Broken(
                    "the page tree's /Kids holds a direct object".to_owned(),
                ));
            }
        }
    }
    let count = match tree.get("Count") {
        Some(Obj::Int(n)) => *n,
        Some(Obj::Ref(n, _)) => match file.resolve(*n)? {
            Obj::Int(c) => c,
            _ => {
                return Err(Refusal::Broken(
                    "the page tree's /Count is not a number".to_owned(),
                ));
            }
        },
        _ => return Err(Refusal::Broken("the page tree has no /Count".to_owned())),
    };
    let mut pages_entries = String::new();
    for (k, v) in &tree.entries {
        if k == b"Kids" || k == b"Count" {
            continue;
        }
        write_name(&mut pages_entries, k);
        pages_entries.push(' ');
        write_obj(&mut pages_entries, v);
        pages_entries.push(' ');
    }
    // A trailer's /Size may be too small: the new objects must not take the number of one
    // the cross-reference (or the catalog and page tree) already uses.
    let highest = file
        .entries
        .iter()
        .flat_map(|(n, e)| match e {
            Entry::InStream(s) => [*n, *s],
            Entry::At(_) => [*n, *n],
        })
        .chain([pages.0, root.0])
        .max()
        .unwrap_or(0);
    let first_free = size.max(highest.saturating_add(1));
    // The update numbers nine objects from `first_free` on; the standard's limit on object
    // numbers is far below this.
    if first_free > MAX_OBJECT_NUMBER {
        return Err(Refusal::Unsupported(format!(
            "object numbers up to {first_free}"
        )));
    }
    Ok(Plan {
        file_len: file.len as u64,
        needs_eol: !file.ends_with_eol,
        prev_xref: file.last_xref as u64,
        first_free,
        xref_stream: file.last_is_stream,
        root,
        info,
        id,
        pages,
        pages_entries,
        kids,
        count,
    })
}

/// `bytes` with `page` in front, in one call (for small files and tests; a server keeps the
/// plan and streams the original).
pub fn prepend(bytes: &[u8], page: &Page) -> Result<Vec<u8>, Refusal> {
    let plan = plan(bytes)?;
    let mut out = bytes.to_vec();
    out.extend_from_slice(&plan.update(page));
    Ok(out)
}

impl Plan {
    /// The bytes to append to the original file (exactly `file_len` bytes long) so that its
    /// first page is `page`.
    pub fn update(&self, page: &Page) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        if self.needs_eol {
            out.push(b'\n');
        }
        let base = self.file_len;
        let first = self.first_free;
        // New objects: five font objects and the ToUnicode map, the content, the page.
        let mut objects: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        for (i, f) in font_objects(first as usize).into_iter().enumerate() {
            objects.push((first + i as u64, 0, f.into_bytes()));
        }
        objects.push((first + 5, 0, stream(to_unicode_cmap().as_bytes())));
        objects.push((first + 6, 0, stream(page.content.as_bytes())));
        let media = format!("[0 0 {} {}]", num(page.width), num(page.height));
        objects.push((
            first + 7,
            0,
            format!(
                "<< /Type /Page /Parent {} {} R /MediaBox {media} /CropBox {media} /Rotate 0 /Resources << /Font << /{F_REGULAR} {} 0 R /{F_BOLD} {} 0 R /{F_CJK} {} 0 R >> /ProcSet [/PDF /Text] >> /Contents {} 0 R >>",
                self.pages.0,
                self.pages.1,
                first,
                first + 1,
                first + 2,
                first + 6
            )
            .into_bytes(),
        ));
        // The page tree's root again, the cover as its first child. Inherited attributes of
        // the root (a rotation, a media box) do not reach the cover: it sets its own.
        let mut kids = format!("{} 0 R", first + 7);
        for (n, g) in &self.kids {
            let _ = write!(kids, " {n} {g} R");
        }
        objects.push((
            self.pages.0,
            self.pages.1,
            format!(
                "<< {}/Kids [{kids}] /Count {} >>",
                self.pages_entries,
                self.count.saturating_add(1)
            )
            .into_bytes(),
        ));
        let mut offsets: Vec<(u64, u64, u64)> = Vec::with_capacity(objects.len() + 1);
        for (n, g, body) in &objects {
            offsets.push((*n, *g, base + out.len() as u64));
            out.extend_from_slice(format!("{n} {g} obj\n").as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let new_id = content_id(&out);
        let mut trailer = format!("/Root {} {} R", self.root.0, self.root.1);
        if let Some((n, g)) = self.info {
            let _ = write!(trailer, " /Info {n} {g} R");
        }
        match &self.id {
            Some(id) => {
                let _ = write!(trailer, " /ID [<{id}> <{new_id}>]");
            }
            None => {
                let _ = write!(trailer, " /ID [<{new_id}> <{new_id}>]");
            }
        }
        let _ = write!(trailer, " /Prev {}", self.prev_xref);
        let xref_at = base + out.len() as u64;
        if self.xref_stream {
            let xref_num = first + 8;
            offsets.push((xref_num, 0, xref_at));
            let wide = if xref_at > u64::from(u32::MAX) { 8 } else { 4 };
            let mut data = Vec::new();
            offsets.sort_by_key(|o| o.0);
            for (_, g, off) in &offsets {
                data.push(1u8);
                data.extend_from_slice(&off.to_be_bytes()[8 - wide..]);
                data.extend_from_slice(&(*g as u16).to_be_bytes());
            }
            let index = subsections(&offsets)
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" ");
            let mut head = format!(
                "{xref_num} 0 obj\n<< /Type /XRef /Size {} /W [1 {wide} 2] /Index [{index}] {trailer} /Length {} >>\nstream\n",
                xref_num + 1,
                data.len()
            )
            .into_bytes();
            head.extend_from_slice(&data);
            head.extend_from_slice(b"\nendstream\nendobj\n");
            out.extend_from_slice(&head);
        } else {
            offsets.sort_by_key(|o| o.0);
            let mut table = String::from("xref\n");
            let mut at = 0;
            for (start, count) in subsections(&offsets) {
                let _ = writeln!(table, "{start} {count}");
                for (_, g, off) in offsets.iter().skip(at).take(count as usize) {
                    let _ = write!(table, "{off:010} {g:05} n\r\n");
                }
                at += count as usize;
            }
            let _ = write!(table, "trailer\n<< /Size {} {trailer} >>\n", first + 8);
            out.extend_from_slice(table.as_bytes());
        }
        out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
        out
    }

    /// Pages in the file before the cover.
    pub fn page_count(&self) -> i64 {
        self.count
    }
}

/// Runs of consecutive object numbers in sorted `(number, generation, offset)` rows.
fn subsections(rows: &[(u64, u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (n, _, _) in rows {
        match out.last_mut() {
            Some((s, c)) if *s + *c == *n => *c += 1,
            _ => out.push((*n, 1)),
        }
    }
    out
}

// ---- reading ----

/// A PDF object as far as this module needs it.
#[derive(Debug, Clone, PartialEq)]
enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    /// A real number, as written.
    Real(String),
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u64, u64),
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Dict {
    entries: Vec<(Vec<u8>, Obj)>,
}

impl Dict {
    fn get(&self, key: &str) -> Option<&Obj> {
        self.entries
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v)
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Obj::Int(n)) => Some(*n),
            _ => None,
        }
    }
}

/// Nesting deeper than this is refused (a hostile file could otherwise exhaust the stack).
const MAX_DEPTH: usize = 64;
/// At most this many cross-reference sections are followed.
const MAX_SECTIONS: usize = 256;
/// A decompressed stream larger than this is refused.
const MAX_INFLATED: u64 = 64 * 1024 * 1024;
/// All the streams inflated while reading one file's structure, together, may not exceed
/// this (a hostile file could otherwise make each of its many sections inflate the maximum).
const MAX_INFLATED_TOTAL: u64 = 128 * 1024 * 1024;
/// Object numbers above this (or a /Size above it) are refused: the standard allows at most
/// 8,388,607 objects, and the update's own numbers must not overflow.
const MAX_OBJECT_NUMBER: u64 = 1 << 40;

fn is_ws(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

fn broken(what: impl Into<String>) -> Refusal {
    Refusal::Broken(what.into())
}

impl<'a> Lexer<'a> {
    fn new(b: &'a [u8], pos: usize) -> Self {
        Lexer { b, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if is_ws(c) {
                self.pos += 1;
            } else if c == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or_default()
    }

    /// A keyword (a run of regular characters).
    fn word(&mut self) -> &'a [u8] {
        self.skip_ws();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_ws(c) || is_delim(c) {
                break;
            }
            self.pos += 1;
        }
        self.b.get(start..self.pos).unwrap_or_default()
    }

    fn expect_word(&mut self, w: &[u8]) -> Result<(), Refusal> {
        let at = self.pos;
        if self.word() == w {
            Ok(())
        } else {
            Err(broken(format!(
                "expected \"{}\" at byte {at}",
                String::from_utf8_lossy(w)
            )))
        }
    }

    fn uint(&mut self) -> Option<u64> {
        let w = self.word();
        if w.is_empty() || !w.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(w).ok()?.parse().ok()
    }

    fn object(&mut self, depth: usize) -> Result<Obj, Refusal> {
        if depth > MAX_DEPTH {
            return Err(broken(format!(
                "objects nested too deeply at byte {}",
                self.pos
            )));
        }
        self.skip_ws();
        let at = self.pos;
        let Some(c) = self.peek() else {
            return Err(broken(format!(
                "the file ends inside an object at byte {at}"
            )));
        };
        match c {
            b'<' if self.b.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut d = Dict::default();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b'>') if self.b.get(self.pos + 1) == Some(&b'>') => {
                            self.pos += 2;
                            return Ok(Obj::Dict(d));
                        }
                        Some(b'/') => {
                            let Obj::Name(k) = self.name() else {
                                return Err(broken(format!("a bad key at byte {}", self.pos)));
                            };
                            let v = self.object(depth + 1)?;
                            d.entries.push((k, v));
                        }
                        _ => {
                            return Err(broken(format!(
                                "a dictionary key was expected at byte {}",
                                self.pos
                            )));
                        }
                    }
                }
            }
            b'<' => self.hex_string(),
            b'(' => self.literal_string(),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(items));
                        }
                        None => {
                            return Err(broken(format!("an array from byte {at} is not closed")));
                        }
                        _ => items.push(self.object(depth + 1)?),
                    }
                }
            }
            b'/' => Ok(self.name()),
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number(),
            _ => {
                let w = self.word();
                match w {
                    b"true" => Ok(Obj::Bool(true)),
                    b"false" => Ok(Obj::Bool(false)),
                    b"null" => Ok(Obj::Null),
                    _ => Err(broken(format!(
                        "an unexpected \"{}\" at byte {at}",
                        String::from_utf8_lossy(w.get(..20.min(w.len())).unwrap_or_default())
                    ))),
                }
            }
        }
    }

    fn name(&mut self) -> Obj {
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            if is_ws(c) || is_delim(c) {
                break;
            }
            if c == b'#'
                && let Some(v) = self
                    .b
                    .get(self.pos + 1..self.pos + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                self.pos += 3;
                continue;
            }
            out.push(c);
            self.pos += 1;
        }
        Obj::Name(out)
    }

    fn number(&mut self) -> Result<Obj, Refusal> {
        let at = self.pos;
        let w = self.word();
        let text =
            std::str::from_utf8(w).map_err(|_| broken(format!("a bad number at byte {at}")))?;
        if let Ok(n) = text.parse::<i64>() {
            // "n g R" is a reference.
            if n >= 0 {
                let save = self.pos;
                if let Some(g) = self.uint()
                    && self.word() == b"R"
                {
                    return Ok(Obj::Ref(n as u64, g));
                }
                self.pos = save;
            }
            return Ok(Obj::Int(n));
        }
        // Only digits, a sign and a point: f64's own parser would also take "inf" or "1e5",
        // which a PDF reader would not.
        if text.chars().any(|c| c.is_ascii_digit())
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || "+-.".contains(c))
        {
            return Ok(Obj::Real(text.to_owned()));
        }
        Err(broken(format!("a bad number \"{text}\" at byte {at}")))
    }

    fn hex_string(&mut self) -> Result<Obj, Refusal> {
        let at = self.pos;
        self.pos += 1;
        let mut digits = Vec::new();
        loop {
            match self.peek() {
                Some(b'>') => {
                    self.pos += 1;
                    break;
                }
                Some(c) if c.is_ascii_hexdigit() => digits.push(c),
                Some(c) if is_ws(c) => {}
                _ => return Err(broken(format!("a bad hex string at byte {at}"))),
            }
            self.pos += 1;
        }
        if digits.len() % 2 == 1 {
            digits.push(b'0');
        }
        let out = digits
            .chunks(2)
            .map(|p| {
                let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                (h(p[0]) << 4) | h(p[1])
            })
            .collect();
        Ok(Obj::Str(out))
    }

    fn literal_string(&mut self) -> Result<Obj, Refusal> {
        let at = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        let mut depth = 1usize;
        loop {
            let Some(c) = self.peek() else {
                return Err(broken(format!("a string from byte {at} is not closed")));
            };
            self.pos += 1;
            match c {
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(Obj::Str(out));
                    }
                    out.push(c);
                }
                b'\\' => {
                    let Some(e) = self.peek() else { continue };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xFF) as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
    }
}

/// An indirect object read at a byte offset: its number, generation, value and, for a
/// stream, where its data starts.
struct Indirect {
    num: u64,
    obj: Obj,
    stream_at: Option<usize>,
}

/// `b` starts at the object, which is at byte `at` of the file.
fn indirect_at(b: &[u8], at: usize) -> Result<Indirect, Refusal> {
    if b.is_empty() {
        return Err(broken(format!(
            "an offset ({at}) points past the end of the file"
        )));
    }
    let mut lx = Lexer::new(b, 0);
    let num = lx
        .uint()
        .ok_or_else(|| broken(format!("no object at byte {at}")))?;
    lx.uint()
        .ok_or_else(|| broken(format!("no object at byte {at}")))?;
    lx.expect_word(b"obj")?;
    let obj = lx.object(0)?;
    let stream_at = if matches!(obj, Obj::Dict(_)) && lx.word() == b"stream" {
        // The data starts after the end of the line (CR LF, or LF; a lone CR is tolerated).
        let mut p = lx.pos;
        if b.get(p) == Some(&b'\r') {
            p += 1;
        }
        if b.get(p) == Some(&b'\n') {
            p += 1;
        }
        Some(p)
    } else {
        None
    };
    Ok(Indirect {
        num,
        obj,
        stream_at,
    })
}

/// A stream's data as stored: `/Length` when it is right, else up to `endstream`. `b` is a
/// window of the file starting at byte `base`; `to_end`: it reaches the end of the file.
fn raw_stream<'a>(
    b: &'a [u8],
    dict: &Dict,
    start: usize,
    base: usize,
    to_end: bool,
) -> Result<&'a [u8], Refusal> {
    if let Some(len) = dict.int("Length").and_then(|l| usize::try_from(l).ok())
        && let Some(end) = start.checked_add(len)
    {
        match b.get(start..end) {
            Some(data) => {
                let mut after = Lexer::new(b, end);
                if after.word() == b"endstream" {
                    return Ok(data);
                }
            }
            // The window ends inside the stream: a larger one is read.
            None if !to_end => {
                return Err(broken(format!(
                    "the stream at byte {} runs past the bytes read",
                    base + start
                )));
            }
            None => {}
        }
    }
    let rest = b.get(start..).unwrap_or_default();
    let end = find(rest, b"endstream")
        .ok_or_else(|| broken(format!("the stream at byte {} has no end", base + start)))?;
    let mut data = &rest[..end];
    if data.ends_with(b"\r\n") {
        data = &data[..data.len() - 2];
    } else if data.ends_with(b"\n") || data.ends_with(b"\r") {
        data = &data[..data.len() - 1];
    }
    Ok(data)
}

/// A stream's data decoded (no filter, or FlateDecode with or without a PNG predictor);
/// what is inflated is taken from `budget`, the bytes left to inflate for this file.
fn decode(dict: &Dict, raw: &[u8], budget: &Cell<u64>) -> Result<Vec<u8>, Refusal> {
    let filters: Vec<&[u8]> = match dict.get("Filter") {
        None | Some(Obj::Null) => Vec::new(),
        Some(Obj::Name(n)) => vec![n.as_slice()],
        Some(Obj::Array(a)) => a
            .iter()
            .filter_map(|f| match f {
                Obj::Name(n) => Some(n.as_slice()),
                _ => None,
            })
            .collect(),
        Some(_) => return Err(broken("a stream's /Filter is neither a name nor an array")),
    };
    let mut data = raw.to_vec();
    for f in &filters {
        if *f != b"FlateDecode" && *f != b"Fl" {
            return Err(Refusal::Unsupported(format!(
                "the {} filter on a structural stream",
                String::from_utf8_lossy(f)
            )));
        }
        let limit = MAX_INFLATED.min(budget.get());
        let mut out = Vec::new();
        // One byte more than allowed tells a stream at the limit from one beyond it.
        let read = flate2::read::ZlibDecoder::new(data.as_slice())
            .take(limit.saturating_add(1))
            .read_to_end(&mut out);
        let inflated = out.len() as u64;
        if inflated > limit {
            return Err(Refusal::Unsupported(format!(
                "structural streams inflating to more than {} MiB ({} MiB in all)",
                MAX_INFLATED >> 20,
                MAX_INFLATED_TOTAL >> 20
            )));
        }
        budget.set(budget.get().saturating_sub(inflated));
        // Some producers write a bad checksum or cut the stream short: what was inflated is
        // still the data.
        if read.is_err() && out.is_empty() {
            return Err(broken("a compressed structural stream cannot be inflated"));
        }
        data = out;
    }
    let parms = match dict.get("DecodeParms") {
        Some(Obj::Dict(d)) => Some(d.clone()),
        Some(Obj::Array(a)) => a.iter().find_map(|p| match p {
            Obj::Dict(d) => Some(d.clone()),
            _ => None,
        }),
        _ => None,
    };
    match parms.as_ref().and_then(|p| p.int("Predictor")).unwrap_or(1) {
        1 => Ok(data),
        p if p >= 10 => {
            let parms = parms.unwrap_or_default();
            let colors = parms.int("Colors").unwrap_or(1).clamp(1, 32) as usize;
            let bpc = parms.int("BitsPerComponent").unwrap_or(8).clamp(1, 16) as usize;
            let columns = parms.int("Columns").unwrap_or(1).clamp(1, 1 << 20) as usize;
            unpredict_png(&data, colors, bpc, columns)
        }
        p => Err(Refusal::Unsupported(format!(
            "predictor {p} on a structural stream"
        ))),
    }
}

/// Undo PNG row filters: each row starts with its filter type. A row longer than the data
/// is refused (its buffers would be allocated for nothing).
fn unpredict_png(
    data: &[u8],
    colors: usize,
    bpc: usize,
    columns: usize,
) -> Result<Vec<u8>, Refusal> {
    let row_len = colors
        .checked_mul(bpc)
        .and_then(|b| b.checked_mul(columns))
        .map(|bits| bits.div_ceil(8))
        .filter(|len| *len <= data.len())
        .ok_or_else(|| {
            broken(format!(
                "a predictor's rows ({columns} columns of {colors} colours at {bpc} bits) are \
                 longer than the {} bytes of data",
                data.len()
            ))
        })?;
    let bpp = (colors * bpc).div_ceil(8).max(1);
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        let Some((&kind, row)) = chunk.split_first() else {
            break;
        };
        let mut cur = row.to_vec();
        cur.resize(row_len, 0);
        for i in 0..row_len {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let up_left = if i >= bpp { prev[i - bpp] } else { 0 };
            let add = match kind {
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => {
                    let p = i16::from(left) + i16::from(up) - i16::from(up_left);
                    let (pa, pb, pc) = (
                        (p - i16::from(left)).abs(),
                        (p - i16::from(up)).abs(),
                        (p - i16::from(up_left)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        up_left
                    }
                }
                _ => 0,
            };
            cur[i] = cur[i].wrapping_add(add);
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

/// The number of the `i`th entry of a cross-reference subsection starting at `start` (in the
/// section at byte `at`), refused when it would overflow or exceed [`MAX_OBJECT_NUMBER`].
fn object_number(start: u64, i: u64, at: usize) -> Result<u64, Refusal> {
    start
        .checked_add(i)
        .filter(|n| *n <= MAX_OBJECT_NUMBER)
        .ok_or_else(|| {
            broken(format!(
                "the cross-reference section at byte {at} numbers objects from {start}, \
                 beyond the largest object number"
            ))
        })
}

/// Where an object lives.
#[derive(Debug, Clone, Copy)]
enum Entry {
    At(usize),
    /// In the object stream with this number.
    InStream(u64),
}

/// The first window read at an offset; it grows (4 times each step) while what is there does
/// not fit, up to [`MAX_WINDOW`].
const FIRST_WINDOW: usize = 64 * 1024;
/// The largest window read at one offset: a structural stream or table longer than this is
/// refused rather than read whole.
const MAX_WINDOW: usize = 64 * 1024 * 1024;

/// `want` bytes of `src` from `at` (fewer at the end of the file).
fn read_window<S: Source + ?Sized>(
    src: &S,
    at: usize,
    want: usize,
) -> Result<Cow<'_, [u8]>, Refusal> {
    src.read_at(at as u64, want)
        .map_err(|e| broken(format!("reading bytes {at}.. of the file failed: {e}")))
}

/// The file's cross-reference, newest definitions first, and its newest trailer.
struct File<'a, S: Source + ?Sized> {
    src: &'a S,
    len: usize,
    /// The file's last byte is a line end.
    ends_with_eol: bool,
    entries: HashMap<u64, Entry>,
    trailer: Dict,
    last_xref: usize,
    last_is_stream: bool,
    /// Bytes that may still be inflated while reading this file (see [`MAX_INFLATED_TOTAL`]).
    budget: Cell<u64>,
}

/// What one cross-reference section says: its entries in order, its trailer, whether it is a
/// stream.
type Section = (Vec<(u64, Entry)>, Dict, bool);

impl<'a, S: Source + ?Sized> File<'a, S> {
    fn read(src: &'a S) -> Result<Self, Refusal> {
        let len = usize::try_from(src.size())
            .map_err(|_| Refusal::Unsupported("a file this large".to_owned()))?;
        let tail_from = len.saturating_sub(4096);
        let tail_bytes = read_window(src, tail_from, len - tail_from)?;
        let tail: &[u8] = tail_bytes.get(..len - tail_from).unwrap_or(&tail_bytes[..]);
        let sx = rfind(tail, b"startxref")
            .ok_or_else(|| broken("no startxref near the end (the file may be cut short)"))?;
        let mut lx = Lexer::new(tail, sx + 9);
        let last_xref = lx
            .uint()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| broken("startxref is not followed by an offset"))?;
        let mut file = File {
            src,
            len,
            ends_with_eol: matches!(tail.last(), Some(b'\n' | b'\r')),
            entries: HashMap::new(),
            trailer: Dict::default(),
            last_xref,
            last_is_stream: false,
            budget: Cell::new(MAX_INFLATED_TOTAL),
        };
        let mut next = Some(last_xref);
        let mut seen = HashSet::new();
        let mut first = true;
        while let Some(at) = next {
            if !seen.insert(at) || seen.len() > MAX_SECTIONS {
                return Err(broken(format!(
                    "the cross-reference sections loop at byte {at}"
                )));
            }
            let (trailer, is_stream) = file.section(at)?;
            if first {
                file.trailer = trailer.clone();
                file.last_is_stream = is_stream;
                first = false;
            }
            // A hybrid file's table leaves the compressed objects to a stream it names.
            if let Some(s) = trailer.int("XRefStm").and_then(|s| usize::try_from(s).ok())
                && seen.insert(s)
            {
                file.section(s)?;
            }
            next = trailer.int("Prev").and_then(|p| usize::try_from(p).ok());
        }
        Ok(file)
    }

    /// `f` over a window of the file from byte `at` (and whether it reaches the end), read
    /// again larger while `f` fails on one that does not: most structures fit in the first.
    fn at<T>(
        &self,
        at: usize,
        f: impl Fn(&[u8], bool) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        if at >= self.len {
            return Err(broken(format!(
                "an offset ({at}) points past the end of the file"
            )));
        }
        let mut want = FIRST_WINDOW;
        loop {
            let window = read_window(self.src, at, want)?;
            let to_end = at.saturating_add(window.len()) >= self.len;
            let budget = self.budget.get();
            match f(&window, to_end) {
                Ok(t) => return Ok(t),
                Err(e) if to_end || want >= MAX_WINDOW => return Err(e),
                // What a failed attempt inflated is not counted twice.
                Err(_) => {
                    self.budget.set(budget);
                    want = want.saturating_mul(4).min(MAX_WINDOW);
                }
            }
        }
    }

    /// Read one cross-reference section (table or stream) at `at`; entries already known (from
    /// a newer section) are kept. Returns its trailer dictionary.
    fn section(&mut self, at: usize) -> Result<(Dict, bool), Refusal> {
        let (entries, trailer, is_stream) =
            self.at(at, |w, to_end| self.section_in(w, at, to_end))?;
        for (n, e) in entries {
            self.entries.entry(n).or_insert(e);
        }
        Ok((trailer, is_stream))
    }

    /// The section in window `w`, which starts at byte `at` of the file.
    fn section_in(&self, w: &[u8], at: usize, to_end: bool) -> Result<Section, Refusal> {
        let mut found = Vec::new();
        let mut lx = Lexer::new(w, 0);
        lx.skip_ws();
        if lx.rest().starts_with(b"xref") {
            lx.pos += 4;
            loop {
                lx.skip_ws();
                if lx.rest().starts_with(b"trailer") {
                    lx.pos += 7;
                    break;
                }
                let (Some(start), Some(count)) = (lx.uint(), lx.uint()) else {
                    return Err(broken(format!("a bad cross-reference table at byte {at}")));
                };
                for i in 0..count {
                    let off = lx.uint();
                    let _gen = lx.uint();
                    let kind = lx.word();
                    let Some(off) = off else {
                        return Err(broken(format!(
                            "a bad cross-reference entry near byte {}",
                            at + lx.pos
                        )));
                    };
                    if kind == b"n" && off > 0 {
                        let n = object_number(start, i, at)?;
                        if let Ok(off) = usize::try_from(off) {
                            found.push((n, Entry::At(off)));
                        }
                    } else if kind != b"f" && kind != b"n" {
                        return Err(broken(format!(
                            "a bad cross-reference entry near byte {}",
                            at + lx.pos
                        )));
                    }
                }
            }
            match lx.object(0)? {
                Obj::Dict(d) => Ok((found, d, false)),
                _ => Err(broken(format!(
                    "the trailer after byte {at} is not a dictionary"
                ))),
            }
        } else {
            let ind = indirect_at(w, at).map_err(|e| match e {
                Refusal::Broken(why) => broken(format!(
                    "startxref or /Prev names byte {at}, where no cross-reference section is ({why})"
                )),
                other => other,
            })?;
            let (Obj::Dict(d), Some(start)) = (&ind.obj, ind.stream_at) else {
                return Err(broken(format!("no cross-reference stream at byte {at}")));
            };
            if !matches!(d.get("Type"), Some(Obj::Name(n)) if n == b"XRef") {
                return Err(broken(format!(
                    "the object at byte {at} is not a cross-reference stream"
                )));
            }
            let data = decode(d, raw_stream(w, d, start, at, to_end)?, &self.budget)?;
            let w: Vec<usize> = match d.get("W") {
                Some(Obj::Array(a)) if a.len() == 3 => a
                    .iter()
                    .map(|x| match x {
                        Obj::Int(n) if (0..=8).contains(n) => Ok(*n as usize),
                        _ => Err(broken("a bad /W in a cross-reference stream")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(broken("a cross-reference stream without /W")),
            };
            let size = d.int("Size").unwrap_or(0).max(0) as u64;
            let index: Vec<u64> = match d.get("Index") {
                Some(Obj::Array(a)) => a
                    .iter()
                    .map(|x| match x {
                        Obj::Int(n) if *n >= 0 => Ok(*n as u64),
                        _ => Err(broken("a bad /Index in a cross-reference stream")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => vec![0, size],
            };
            let row = w.iter().sum::<usize>();
            if row == 0 {
                return Err(broken("a cross-reference stream with empty rows"));
            }
            let field = |bytes: &[u8]| bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
            let mut rows = data.chunks_exact(row);
            for pair in index.chunks(2) {
                let [start, count] = pair else { break };
                for i in 0..*count {
                    let Some(r) = rows.next() else { break };
                    let kind = if w[0] == 0 { 1 } else { field(&r[..w[0]]) };
                    let f2 = field(&r[w[0]..w[0] + w[1]]);
                    let n = object_number(*start, i, at)?;
                    match kind {
                        1 if f2 > 0 => {
                            if let Ok(off) = usize::try_from(f2) {
                                found.push((n, Entry::At(off)));
                            }
                        }
                        2 => found.push((n, Entry::InStream(f2))),
                        _ => {}
                    }
                }
            }
            Ok((found, d.clone(), true))
        }
    }

    /// Object `num`'s value, wherever it is.
    fn resolve(&self, num: u64) -> Result<Obj, Refusal> {
        match self.entries.get(&num) {
            None => Err(broken(format!(
                "object {num} is not in the cross-reference"
            ))),
            Some(Entry::At(off)) => {
                let ind = self.at(*off, |w, _| indirect_at(w, *off))?;
                if ind.num != num {
                    return Err(broken(format!(
                        "the cross-reference puts object {num} at byte {off}, where object {} is",
                        ind.num
                    )));
                }
                Ok(ind.obj)
            }
            Some(Entry::InStream(s)) => {
                let Some(Entry::At(off)) = self.entries.get(s) else {
                    return Err(broken(format!(
                        "object stream {s} (holding object {num}) is not in the file"
                    )));
                };
                let (d, data) = self.at(*off, |w, to_end| {
                    let ind = indirect_at(w, *off)?;
                    let (Obj::Dict(d), Some(start)) = (&ind.obj, ind.stream_at) else {
                        return Err(broken(format!("object {s} is not an object stream")));
                    };
                    let data = decode(d, raw_stream(w, d, start, *off, to_end)?, &self.budget)?;
                    Ok((d.clone(), data))
                })?;
                let n = d.int("N").unwrap_or(0).max(0);
                let first = d
                    .int("First")
                    .and_then(|f| usize::try_from(f).ok())
                    .ok_or_else(|| broken(format!("object stream {s} has no /First")))?;
                let mut lx = Lexer::new(&data, 0);
                for _ in 0..n {
                    let (Some(obj), Some(rel)) = (lx.uint(), lx.uint()) else {
                        break;
                    };
                    if obj == num {
                        let at = usize::try_from(rel)
                            .ok()
                            .and_then(|r| r.checked_add(first))
                            .ok_or_else(|| broken(format!("object stream {s} is damaged")))?;
                        return Lexer::new(&data, at).object(0);
                    }
                }
                Err(broken(format!(
                    "object stream {s} does not hold object {num}"
                )))
            }
        }
    }
}

// ---- writing objects back ----

fn write_name(out: &mut String, name: &[u8]) {
    out.push('/');
    for &b in name {
        if (0x21..=0x7E).contains(&b) && !is_delim(b) && b != b'#' {
            out.push(b as char);
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
}

fn write_obj(out: &mut String, o: &Obj) {
    match o {
        Obj::Null => out.push_str("null"),
        Obj::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Obj::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Obj::Real(r) => out.push_str(r),
        Obj::Str(s) => {
            out.push('<');
            for b in s {
                let _ = write!(out, "{b:02X}");
            }
            out.push('>');
        }
        Obj::Name(n) => write_name(out, n),
        Obj::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_obj(out, x);
            }
            out.push(']');
        }
        Obj::Dict(d) => {
            out.push_str("<<");
            for (k, v) in &d.entries {
                out.push(' ');
                write_name(out, k);
                out.push(' ');
                write_obj(out, v);
            }
            out.push_str(" >>");
        }
        Obj::Ref(n, g) => {
            let _ = write!(out, "{n} {g} R");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::A4_PORTRAIT;

    /// A file read a window at a time, counting the bytes asked for.
    struct Ranged<'a> {
        bytes: &'a [u8],
        read: Cell<u64>,
    }

    impl Source for Ranged<'_> {
        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }

        fn read_at(&self, at: u64, want: usize) -> Result<Cow<'_, [u8]>, String> {
            let at = at as usize;
            let end = at.saturating_add(want).min(self.bytes.len());
            let got = self.bytes.get(at..end).ok_or("past the end")?;
            self.read.set(self.read.get() + got.len() as u64);
            Ok(Cow::Borrowed(got))
        }
    }

    #[test]
    fn a_file_read_by_windows_gives_the_same_plan_or_refusal_as_read_whole() {
        let mut all: Vec<(&str, &[u8])> = FIXTURES.iter().map(|(n, b, _)| (*n, *b)).collect();
        all.push((
            "encrypted",
            include_bytes!("../../../fixtures/pdf/encrypted.pdf"),
        ));
        all.push((
            "truncated",
            include_bytes!("../../../fixtures/pdf/truncated.pdf"),
        ));
        for (name, bytes) in all {
            let ranged = Ranged {
                bytes,
                read: Cell::new(0),
            };
            assert_eq!(plan_from(&ranged), plan(bytes), "{name}");
        }
    }

    #[test]
    fn a_large_file_is_planned_from_a_few_windows_of_it() {
        // Catalog, page tree and page first, then an 8 MiB image, then the cross-reference.
        let mut f = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for body in [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_owned(),
        ] {
            offsets.push(f.len());
            f.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", offsets.len()).as_bytes());
        }
        let image = vec![0x5Au8; 8 << 20];
        offsets.push(f.len());
        f.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n", image.len()).as_bytes());
        f.extend_from_slice(&image);
        f.extend_from_slice(b"\nendstream\nendobj\n");
        let xref = f.len();
        f.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
        for o in &offsets {
            f.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        f.extend_from_slice(
            format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        let ranged = Ranged {
            bytes: &f,
            read: Cell::new(0),
        };
        let p = plan_from(&ranged).unwrap();
        assert_eq!(p, plan(&f).unwrap());
        assert_eq!(p.page_count(), 1);
        assert!(
            ranged.read.get() < 1 << 20,
            "read {} bytes",
            ranged.read.get()
        );
    }

    const FIXTURES: [(&str, &[u8], i64); 6] = [
        (
            "fpdf2-classic",
            include_bytes!("../../../fixtures/pdf/fpdf2-classic.pdf"),
            2,
        ),
        (
            "qpdf-objstm",
            include_bytes!("../../../fixtures/pdf/qpdf-objstm.pdf"),
            3,
        ),
        (
            "qpdf-linearized",
            include_bytes!("../../../fixtures/pdf/qpdf-linearized.pdf"),
            2,
        ),
        (
            "pypdf-classic",
            include_bytes!("../../../fixtures/pdf/pypdf-classic.pdf"),
            2,
        ),
        (
            "pypdf-incremental",
            include_bytes!("../../../fixtures/pdf/pypdf-incremental.pdf"),
            2,
        ),
        ("librelay", b"", 1),
    ];

    fn own_pdf() -> Vec<u8> {
        let mut doc = crate::Document::new();
        doc.add_page(A4_PORTRAIT)
            .text(50.0, 800.0, 12.0, "Original page 1 of our own statement");
        doc.to_bytes()
    }

    fn cover() -> Page {
        let mut p = Page::new(A4_PORTRAIT);
        p.bold_text(50.0, 800.0, 16.0, "版权声明 Copyright notice");
        p.text(50.0, 770.0, 11.0, "Request BCU-0001, opened 2 of 5 times");
        p
    }

    fn tool(cmd: &str, args: &[&str], pdf: &[u8]) -> Option<String> {
        let path = std::env::temp_dir().join(format!(
            "pdf-stamp-test-{}-{}.pdf",
            std::process::id(),
            content_id(pdf)
        ));
        std::fs::write(&path, pdf).ok()?;
        let out = std::process::Command::new(cmd)
            .args(args)
            .arg(&path)
            .args(if cmd == "pdftotext" {
                &["-"][..]
            } else {
                &[][..]
            })
            .output();
        let _ = std::fs::remove_file(&path);
        let out = out.ok()?;
        Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    #[test]
    fn every_producer_s_file_gets_the_cover_in_front_and_keeps_its_pages() {
        for (name, bytes, pages) in FIXTURES {
            let bytes = if bytes.is_empty() {
                own_pdf()
            } else {
                bytes.to_vec()
            };
            let plan = plan(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(plan.page_count(), pages, "{name}");
            let stamped = prepend(&bytes, &cover()).unwrap();
            assert!(
                stamped.starts_with(&bytes),
                "{name}: the original bytes are kept"
            );
            // Our own reader reads the result again (a second cover would go on top).
            let again = super::plan(&stamped).unwrap_or_else(|e| panic!("{name} stamped: {e}"));
            assert_eq!(again.page_count(), pages + 1, "{name}");
            assert_eq!(again.kids.len(), plan.kids.len() + 1, "{name}");
            let Some(info) = tool("pdfinfo", &[], &stamped) else {
                println!("note: pdfinfo (poppler-utils) is not installed; {name} not checked");
                continue;
            };
            assert!(
                info.contains(&format!("Pages:           {}", pages + 1)),
                "{name}: {info}"
            );
            assert!(!info.contains("Syntax Error"), "{name}: {info}");
            let first = tool(
                "pdftotext",
                &["-enc", "UTF-8", "-f", "1", "-l", "1"],
                &stamped,
            )
            .unwrap_or_default();
            assert!(first.contains("版权声明"), "{name}: {first}");
            assert!(first.contains("opened 2 of 5 times"), "{name}: {first}");
            assert!(!first.contains("Original page"), "{name}: {first}");
            let second = tool(
                "pdftotext",
                &["-enc", "UTF-8", "-f", "2", "-l", "2"],
                &stamped,
            )
            .unwrap_or_default();
            assert!(second.contains("Original page 1"), "{name}: {second}");
            let all = tool("pdftotext", &["-enc", "UTF-8"], &stamped).unwrap_or_default();
            for p in 1..=pages {
                if name != "librelay" {
                    assert!(
                        all.contains(&format!("Original page {p} of")),
                        "{name}: {all}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_rotated_page_tree_does_not_turn_the_cover() {
        let bytes = include_bytes!("../../../fixtures/pdf/qpdf-objstm.pdf");
        let stamped = prepend(bytes, &cover()).unwrap();
        let Some(info) = tool("pdfinfo", &["-f", "1", "-l", "2"], &stamped) else {
            return;
        };
        let info = info.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(info.contains("Page 1 rot: 0 "), "{info}");
        assert!(info.contains("Page 2 rot: 90 "), "{info}");
    }

    #[test]
    fn encrypted_and_cut_files_are_refused_with_the_reason() {
        let enc = include_bytes!("../../../fixtures/pdf/encrypted.pdf");
        assert_eq!(plan(enc), Err(Refusal::Encrypted));
        let cut = include_bytes!("../../../fixtures/pdf/truncated.pdf");
        let e = plan(cut).unwrap_err();
        assert!(matches!(e, Refusal::Broken(_)), "{e}");
        assert!(e.to_string().contains("startxref"), "{e}");
        assert!(matches!(plan(b"not a pdf"), Err(Refusal::Broken(_))));
    }

    #[test]
    fn damaged_files_give_a_reason_never_a_panic() {
        for (name, bytes, _) in FIXTURES {
            let bytes = if bytes.is_empty() {
                own_pdf()
            } else {
                bytes.to_vec()
            };
            // Cut at every length near the end and at a spread of others.
            let n = bytes.len();
            let cuts = (0..n).step_by(7).chain(n.saturating_sub(300)..n);
            for cut in cuts {
                let _ = plan(&bytes[..cut]);
            }
            // Flip bytes one at a time, all over the file.
            let mut seed = 0x2545_F491_4F6C_DD1D_u64;
            for _ in 0..2000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut b = bytes.clone();
                let at = (seed % n as u64) as usize;
                b[at] = (seed >> 32) as u8;
                if let Ok(p) = plan(&b) {
                    let _ = p.update(&cover());
                }
            }
            let _ = name;
        }
        // Deep nesting is refused, not followed.
        let mut deep = b"%PDF-1.4\n1 0 obj\n".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        deep.extend_from_slice(b"\nendobj\nxref\n0 2\n0000000000 65535 f\r\n0000000009 00000 n\r\ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n");
        let xref_at = find(&deep, b"xref\n0 2").unwrap();
        deep.extend_from_slice(format!("{xref_at}\n%%EOF\n").as_bytes());
        assert!(plan(&deep).is_err());
    }

    #[test]
    fn a_file_without_a_final_line_end_gets_one_before_the_update() {
        let mut bytes = own_pdf();
        while bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        let p = plan(&bytes).unwrap();
        assert!(p.needs_eol);
        let stamped = prepend(&bytes, &cover()).unwrap();
        assert_eq!(super::plan(&stamped).unwrap().page_count(), 2);
    }

    #[test]
    fn numbers_references_and_names_are_read_as_written() {
        let obj = |s: &[u8]| Lexer::new(s, 0).object(0);
        assert_eq!(obj(b"-.5"), Ok(Obj::Real("-.5".into())));
        assert_eq!(obj(b"12 0 R"), Ok(Obj::Ref(12, 0)));
        assert_eq!(obj(b"12 0 obj"), Ok(Obj::Int(12)));
        assert!(obj(b"-inf").is_err());
        assert!(obj(b"1e5").is_err());
        let Ok(Obj::Dict(d)) = obj(b"<< /A#20B (x\\)y) /K [1 2 0 R] >>") else {
            panic!("not a dictionary");
        };
        let mut out = String::new();
        write_obj(&mut out, &Obj::Dict(d));
        assert_eq!(out, "<< /A#20B <782979> /K [1 2 0 R] >>");
    }

    /// `bytes` with `from` replaced by `to` once (both in the tail, after every object).
    fn patched(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = rfind(bytes, from).unwrap();
        let mut out = bytes[..at].to_vec();
        out.extend_from_slice(to);
        out.extend_from_slice(&bytes[at + from.len()..]);
        out
    }

    #[test]
    fn a_too_small_trailer_size_does_not_make_the_cover_reuse_live_object_numbers() {
        let bytes = own_pdf();
        let size_at = rfind(&bytes, b"/Size ").unwrap();
        let digits = bytes[size_at + 6..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let size = &bytes[size_at..size_at + 6 + digits];
        let small = patched(&bytes, size, b"/Size 2");
        let highest = File::read(&small[..])
            .unwrap()
            .entries
            .keys()
            .copied()
            .max()
            .unwrap();
        assert!(highest > 2, "the fixture has more than two objects");
        let p = plan(&small).unwrap();
        assert_eq!(p.first_free, highest + 1);
        let stamped = prepend(&small, &cover()).unwrap();
        assert_eq!(super::plan(&stamped).unwrap().page_count(), 2);
        let Some(info) = tool("pdfinfo", &[], &stamped) else {
            println!("note: pdfinfo (poppler-utils) is not installed; not checked");
            return;
        };
        assert!(info.contains("Pages:           2"), "{info}");
        assert!(!info.contains("Syntax Error"), "{info}");
        let first = tool(
            "pdftotext",
            &["-enc", "UTF-8", "-f", "1", "-l", "1"],
            &stamped,
        )
        .unwrap_or_default();
        assert!(first.contains("版权声明"), "{first}");
        let second = tool(
            "pdftotext",
            &["-enc", "UTF-8", "-f", "2", "-l", "2"],
            &stamped,
        )
        .unwrap_or_default();
        assert!(second.contains("Original page 1"), "{second}");
    }

    #[test]
    fn a_cross_reference_subsection_numbered_past_the_largest_number_is_refused() {
        let bytes = own_pdf();
        for start in [u64::MAX, u64::MAX - 1, MAX_OBJECT_NUMBER] {
            let extra = format!("{start} 2\n0000000009 00000 n\r\n0000000009 00000 n\r\ntrailer\n");
            let hostile = patched(&bytes, b"trailer\n", extra.as_bytes());
            let e = plan(&hostile).unwrap_err();
            assert!(matches!(e, Refusal::Broken(_)), "{start}: {e}");
            assert!(e.to_string().contains("largest object number"), "{e}");
        }
        // A huge /Size is refused too: the update's own numbers would overflow.
        let hostile = patched(&bytes, b"/Size ", b"/Size 9223372036854775807 /Old ");
        let e = plan(&hostile).unwrap_err();
        assert!(matches!(e, Refusal::Unsupported(_)), "{e}");
    }

    fn deflated(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn flate_dict(parms: &str) -> Dict {
        let text = format!("<< /Filter /FlateDecode {parms} >>");
        let Ok(Obj::Dict(d)) = Lexer::new(text.as_bytes(), 0).object(0) else {
            panic!("not a dictionary");
        };
        d
    }

    #[test]
    fn all_the_streams_of_one_file_share_one_inflation_budget() {
        let zeros = deflated(&vec![0u8; 1 << 20]);
        let d = flate_dict("");
        let budget = Cell::new((5 << 20) / 2);
        assert_eq!(decode(&d, &zeros, &budget).unwrap().len(), 1 << 20);
        assert_eq!(decode(&d, &zeros, &budget).unwrap().len(), 1 << 20);
        assert_eq!(budget.get(), 1 << 19);
        let e = decode(&d, &zeros, &budget).unwrap_err();
        assert!(matches!(e, Refusal::Unsupported(_)), "{e}");
        // A stream exactly at what is left still inflates.
        let budget = Cell::new(1 << 20);
        assert!(decode(&d, &zeros, &budget).is_ok());
        assert_eq!(budget.get(), 0);
        // A file's budget starts at the total.
        let file =
            File::read(&include_bytes!("../../../fixtures/pdf/qpdf-objstm.pdf")[..]).unwrap();
        assert!(file.budget.get() < MAX_INFLATED_TOTAL);
    }

    #[test]
    fn predictor_rows_longer_than_the_data_are_refused_before_allocating() {
        let tiny = deflated(&[2, 0, 0, 0]);
        let d = flate_dict(
            "/DecodeParms << /Predictor 12 /Columns 1048576 /Colors 32 /BitsPerComponent 16 >>",
        );
        let e = decode(&d, &tiny, &Cell::new(MAX_INFLATED_TOTAL)).unwrap_err();
        assert!(matches!(e, Refusal::Broken(_)), "{e}");
        assert!(e.to_string().contains("longer than the 4 bytes"), "{e}");
        // Rows that fit are decoded as before.
        let d = flate_dict("/DecodeParms << /Predictor 12 /Columns 3 >>");
        let rows = deflated(&[0, 1, 2, 3, 2, 1, 1, 1]);
        assert_eq!(
            decode(&d, &rows, &Cell::new(MAX_INFLATED_TOTAL)).unwrap(),
            vec![1, 2, 3, 2, 3, 4]
        );
        assert!(unpredict_png(&[0; 8], usize::MAX, 16, 1 << 20).is_err());
    }

    #[test]
    fn the_plan_survives_being_stored_as_json_like_text() {
        let p = plan(include_bytes!("../../../fixtures/pdf/qpdf-linearized.pdf")).unwrap();
        assert!(p.xref_stream);
        assert!(p.pages_entries.is_ascii());
    }
}
