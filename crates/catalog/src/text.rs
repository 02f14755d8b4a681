//! How catalog text becomes index terms, the same for records and queries.
//!
//! Chinese, Japanese and Korean have no spaces between words. Three kinds of terms are made
//! from such a run: jieba's words (good ranking for words in its dictionary), overlapping
//! bigrams (personal and place names that no dictionary holds, and any query that is a
//! substring of the text), and single characters (one-character queries). Traditional
//! characters are folded to simplified first, on both sides, so 繁體 finds 繁体 and back.
//!
//! Folding uses the `fast2s` crate: a character table compiled into the binary (about 3,000
//! pairs, no dictionaries to download or load at run time), with a context rule for the few
//! characters whose simplified form depends on their neighbours. A phrase-level converter
//! (OpenCC tables) would be larger and slower and buys nothing for matching, where both sides
//! go through the same folding.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The name the catalog's analyzer is registered under in the index.
pub const ANALYZER: &str = "librelay_catalog";

/// Lower-cased, accents folded (é → e), CJK segmented as the module docs say.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(CatalogTokenizer)
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The index terms of `text`, in order: what the analyzer makes of it.
pub fn terms(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Whether `c` is written without spaces between words: Han, kana, Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x3040..=0x30FF        // hiragana, katakana
        | 0x3400..=0x4DBF      // Han extension A
        | 0x4E00..=0x9FFF      // Han
        | 0xAC00..=0xD7AF      // Hangul syllables
        | 0xF900..=0xFAFF      // Han compatibility
        | 0x20000..=0x2FA1F) // Han extensions B-F, compatibility supplement
}

/// Traditional Chinese folded to simplified; other text unchanged.
pub fn fold(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(is_cjk) {
        std::borrow::Cow::Owned(fast2s::convert(text))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A run of text of one kind.
#[derive(Debug, PartialEq, Eq)]
pub enum Run<'a> {
    /// Letters and digits of a spaced script.
    Word(&'a str),
    /// Han / kana / Hangul, already folded.
    Cjk(&'a str),
}

/// `text` (already folded) as runs; punctuation and spaces separate runs and are dropped.
pub fn runs(text: &str) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    for (i, c) in text.char_indices() {
        let kind = if is_cjk(c) {
            Some(true)
        } else if c.is_alphanumeric() {
            Some(false)
        } else {
            None
        };
        match (start, kind) {
            (Some((s, cjk)), Some(k)) if cjk == k => {
                let _ = s;
            }
            (Some((s, cjk)), _) => {
                push_run(&mut out, text.get(s..i).unwrap_or_default(), cjk);
                start = kind.map(|k| (i, k));
            }
            (None, k) => start = k.map(|k| (i, k)),
        }
    }
    if let Some((s, cjk)) = start {
        push_run(&mut out, text.get(s..).unwrap_or_default(), cjk);
    }
    out
}

fn push_run<'a>(out: &mut Vec<Run<'a>>, s: &'a str, cjk: bool) {
    if s.is_empty() {
        return;
    }
    out.push(if cjk { Run::Cjk(s) } else { Run::Word(s) });
}

/// Overlapping pairs of characters ("中国历史" gives 中国, 国历, 历史); the character itself
/// for a run of one.
pub fn bigrams(run: &str) -> Vec<String> {
    let chars: Vec<char> = run.chars().collect();
    if chars.len() == 1 {
        return vec![run.to_owned()];
    }
    chars
        .windows(2)
        .map(|w| w.iter().collect::<String>())
        .collect()
}

/// jieba's words for a CJK run (search mode: long words and their parts).
pub fn jieba_words(run: &str) -> Vec<String> {
    let mut jieba = tantivy_jieba::JiebaTokenizer::new();
    let mut stream = jieba.token_stream(run);
    let mut out = Vec::new();
    while stream.advance() {
        let t = stream.token().text.trim();
        if !t.is_empty() {
            out.push(t.to_owned());
        }
    }
    out
}

/// Splits text into the terms of the module docs (before lower-casing).
#[derive(Clone, Default)]
pub struct CatalogTokenizer;

pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        // `advance` returned true before any call, so `next - 1` is in range; the fallback is
        // never used but keeps this free of panics.
        self.tokens
            .get(self.next.saturating_sub(1))
            .or_else(|| self.tokens.last())
            .unwrap_or(&EMPTY)
    }

    fn token_mut(&mut self) -> &mut Token {
        let i = self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1));
        if self.tokens.is_empty() {
            self.tokens.push(Token::default());
        }
        &mut self.tokens[i]
    }
}

static EMPTY: Token = Token {
    offset_from: 0,
    offset_to: 0,
    position: 0,
    text: String::new(),
    position_length: 1,
};

impl Tokenizer for CatalogTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let folded = fold(text);
        let mut tokens = Vec::new();
        let mut push = |t: String| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: 0,
                offset_to: 0,
                position,
                text: t,
                position_length: 1,
            });
        };
        for run in runs(&folded) {
            match run {
                Run::Word(w) => push(w.to_owned()),
                Run::Cjk(c) => {
                    for w in jieba_words(c) {
                        push(w);
                    }
                    for b in bigrams(c) {
                        push(b);
                    }
                    if c.chars().count() > 1 {
                        for ch in c.chars() {
                            push(ch.to_string());
                        }
                    }
                }
            }
        }
        VecTokenStream { tokens, next: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut a = analyzer();
        let mut s = a.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push(s.token().text.clone());
        }
        out
    }

    #[test]
    fn traditional_and_simplified_give_the_same_terms() {
        assert_eq!(terms("中國歷史"), terms("中国历史"));
        assert!(terms("中國歷史").contains(&"历史".to_owned()));
    }

    #[test]
    fn spaced_scripts_are_lower_cased_and_unaccented() {
        assert_eq!(
            terms("Études: Über-Mensch 1990"),
            vec!["etudes", "uber", "mensch", "1990"]
        );
    }

    #[test]
    fn cjk_runs_give_words_bigrams_and_characters() {
        let t = terms("王小波");
        assert!(t.contains(&"王小".to_owned()) && t.contains(&"小波".to_owned()));
        assert!(t.contains(&"王".to_owned()));
        assert_eq!(
            runs("abc中文def"),
            vec![Run::Word("abc"), Run::Cjk("中文"), Run::Word("def")]
        );
    }
}
