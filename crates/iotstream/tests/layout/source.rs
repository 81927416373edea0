//! A crate's source files as the checks see them: each file's module path, its functions and
//! their lengths, its lines outside test code, the items it defines, what it re-exports, and the
//! paths it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::lexer::{lex, Spanned, Token};

/// The longest a function may be, in lines from `fn` to its closing brace.
pub const LONGEST_FUNCTION: usize = 50;
/// The longest a file may be, its test modules aside.
pub const LONGEST_FILE: usize = 600;

/// A crate's `src` tree.
pub struct Crate {
    /// The crate's name as paths spell it (`iotstream_engine`).
    pub name: String,
    /// Every non-test file, by path.
    pub files: BTreeMap<PathBuf, File>,
}

/// One source file.
pub struct File {
    /// Its path under `src`, as shown (`pipeline/driver.rs`).
    pub shown: String,
    /// Its module path (`["pipeline", "driver"]`; the crate root is empty).
    pub module: Vec<String>,
    /// Functions outside test code.
    pub functions: Vec<Function>,
    /// Lines outside test modules.
    pub code_lines: usize,
    /// Names of the items defined at its top level.
    pub defines: BTreeSet<String>,
    /// Names it re-exports (`pub use`), with the absolute path each names.
    pub reexports: BTreeMap<String, Vec<String>>,
    /// Names it re-exports from other crates.
    pub external: BTreeSet<String>,
    /// Modules it re-exports everything of (`pub use path::*`).
    pub globs: Vec<Vec<String>>,
    /// Absolute paths it names (imports and inline paths).
    pub paths: Vec<Vec<String>>,
    /// Child modules declared under `#[cfg(test)]`.
    test_children: BTreeSet<String>,
}

/// A function and its length.
pub struct Function {
    pub name: String,
    pub line: usize,
    pub lines: usize,
}

impl Crate {
    /// Reads every `.rs` file under `dir/src`, leaving out test modules declared in other files.
    pub fn read(dir: &Path) -> Crate {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let name = manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = \"").and_then(|r| r.strip_suffix('"')))
            .unwrap_or("crate")
            .replace('-', "_");
        let src = dir.join("src");
        let mut paths = Vec::new();
        collect(&src, &mut paths);
        let mut files: BTreeMap<PathBuf, File> =
            paths.iter().map(|path| (path.clone(), File::read(&src, path, &name))).collect();
        let tests: Vec<Vec<String>> = files
            .values()
            .flat_map(|f| {
                f.test_children.iter().map(|child| [f.module.clone(), vec![child.clone()]].concat())
            })
            .collect();
        files.retain(|_, f| !tests.iter().any(|t| f.module.starts_with(t)));
        Crate { name, files }
    }

    /// The file of module `module`, if there is one.
    pub fn module_file(&self, module: &[String]) -> Option<&PathBuf> {
        self.files.iter().find(|(_, f)| f.module == module).map(|(path, _)| path)
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

impl File {
    fn read(src: &Path, path: &Path, crate_name: &str) -> File {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let relative = path.strip_prefix(src).unwrap_or(path);
        let shown = relative.to_string_lossy().replace('\\', "/");
        let module = module_of(&shown);
        let tokens = lex(&text);
        let tests = test_ranges(&tokens);
        let in_test = |i: usize| tests.iter().any(|&(from, to)| i >= from && i <= to);
        let test_lines: usize = tests.iter().map(|&(from, to)| tokens[to].line - tokens[from].line + 1).sum();
        let mut file = File {
            shown,
            module,
            functions: functions(&tokens, &in_test),
            code_lines: text.lines().count() - test_lines,
            defines: BTreeSet::new(),
            reexports: BTreeMap::new(),
            external: BTreeSet::new(),
            globs: Vec::new(),
            paths: Vec::new(),
            test_children: test_children(&tokens),
        };
        file.read_items(&tokens, &in_test, crate_name);
        file
    }

    /// Top-level items, `use` declarations and inline paths.
    fn read_items(&mut self, tokens: &[Spanned], in_test: &dyn Fn(usize) -> bool, crate_name: &str) {
        let children = child_modules(tokens);
        let mut aliases: BTreeMap<String, Vec<String>> = children
            .iter()
            .map(|child| (child.clone(), [self.module.clone(), vec![child.clone()]].concat()))
            .collect();
        let mut depth = 0usize;
        let mut i = 0;
        while i < tokens.len() {
            if in_test(i) {
                i += 1;
                continue;
            }
            let token = &tokens[i];
            if token.is_punct('{') {
                depth += 1;
            } else if token.is_punct('}') {
                depth = depth.saturating_sub(1);
            } else if token.is_ident("use") {
                let public = i > 0 && (tokens[i - 1].is_ident("pub") || tokens[i - 1].is_punct(')'));
                let end = (i..tokens.len()).find(|&j| tokens[j].is_punct(';')).unwrap_or(tokens.len());
                for (path, name) in use_tree(&tokens[i + 1..end]) {
                    let Some(absolute) = self.absolute(&path, crate_name, &aliases) else {
                        if let (true, Some(name)) = (public && depth == 0, name) {
                            self.external.insert(name);
                        }
                        continue;
                    };
                    match name.as_deref() {
                        Some("*") if public => self.globs.push(absolute.clone()),
                        Some("*") => {}
                        Some(name) => {
                            if public && depth == 0 {
                                // Passed on, not necessarily used here: an edge only if it is.
                                self.reexports.insert(name.to_owned(), absolute.clone());
                                aliases.insert(name.to_owned(), absolute.clone());
                                continue;
                            }
                            aliases.insert(name.to_owned(), absolute.clone());
                        }
                        None => {}
                    }
                    self.paths.push(absolute);
                }
                i = end;
                continue;
            } else if depth == 0 {
                if let Some(name) = defined_name(tokens, i) {
                    self.defines.insert(name);
                }
            }
            if let Some(target) = token.ident().and_then(|name| self.reexports.get(name)) {
                // A re-exported name used here by itself.
                self.paths.push(target.clone());
            }
            if let Some((path, next)) = inline_path(tokens, i) {
                if let Some(absolute) = self.absolute(&path, crate_name, &aliases) {
                    self.paths.push(absolute);
                }
                i = next;
                continue;
            }
            i += 1;
        }
    }

    /// `path` as seen from this file, made absolute; `None` for other crates' paths.
    fn absolute(
        &self,
        path: &[String],
        crate_name: &str,
        aliases: &BTreeMap<String, Vec<String>>,
    ) -> Option<Vec<String>> {
        let first = path.first()?;
        let (mut base, rest) = match first.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            name if name == crate_name => (Vec::new(), &path[1..]),
            "iotstream" if crate_name == "iotstream" => (Vec::new(), &path[1..]),
            "self" => (self.module.clone(), &path[1..]),
            "super" => {
                let supers = path.iter().take_while(|s| *s == "super").count();
                let keep = self.module.len().saturating_sub(supers);
                (self.module[..keep].to_vec(), &path[supers..])
            }
            name => (aliases.get(name)?.clone(), &path[1..]),
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }
}

/// `src`-relative path → module path: `a/b.rs` → a::b, `a/mod.rs` → a, `lib.rs` → the root.
fn module_of(shown: &str) -> Vec<String> {
    let mut parts: Vec<String> = shown.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    if parts == ["main"] {
        // The binary's root, beside the library's: named so that it is a node of its own.
        return vec!["main".to_owned()];
    }
    parts
}

/// Token ranges (first, last) of `#[cfg(test)] mod … { … }` blocks.
fn test_ranges(tokens: &[Spanned]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    for i in 0..tokens.len() {
        if !is_cfg_test(tokens, i) {
            continue;
        }
        let Some(open) =
            (i..tokens.len().min(i + 12)).find(|&j| tokens[j].is_punct('{') || tokens[j].is_punct(';'))
        else {
            continue;
        };
        let is_mod = (i..open).any(|j| tokens[j].is_ident("mod"));
        if is_mod && tokens[open].is_punct('{') {
            ranges.push((i, matching(tokens, open)));
        }
    }
    ranges
}

/// `#[cfg(test)]` starting at `i`.
fn is_cfg_test(tokens: &[Spanned], i: usize) -> bool {
    let want = ["#", "[", "cfg", "(", "test", ")", "]"];
    want.iter().enumerate().all(|(k, w)| {
        tokens.get(i + k).is_some_and(|t| match &t.token {
            Token::Ident(ident) => ident == w,
            Token::Punct(c) => w.len() == 1 && w.starts_with(*c),
            Token::Literal => false,
        })
    })
}

/// Child modules declared `#[cfg(test)] mod NAME;` (their files are tests).
fn test_children(tokens: &[Spanned]) -> BTreeSet<String> {
    (0..tokens.len())
        .filter(|&i| is_cfg_test(tokens, i))
        .filter_map(|i| {
            let m = (i + 7..tokens.len().min(i + 10)).find(|&j| tokens[j].is_ident("mod"))?;
            let name = tokens.get(m + 1)?.ident()?;
            tokens.get(m + 2)?.is_punct(';').then(|| name.to_owned())
        })
        .collect()
}

/// Modules declared in this file with `mod NAME;`.
fn child_modules(tokens: &[Spanned]) -> Vec<String> {
    (0..tokens.len().saturating_sub(2))
        .filter(|&i| tokens[i].is_ident("mod") && tokens[i + 2].is_punct(';'))
        .filter_map(|i| tokens[i + 1].ident().map(str::to_owned))
        .collect()
}

/// The index of the brace closing the one at `open`.
fn matching(tokens: &[Spanned], open: usize) -> usize {
    let mut depth = 0;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        if token.is_punct('{') {
            depth += 1;
        } else if token.is_punct('}') {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    tokens.len() - 1
}

/// Every `fn NAME … { … }` outside test code, with its length.
fn functions(tokens: &[Spanned], in_test: &dyn Fn(usize) -> bool) -> Vec<Function> {
    let mut found = Vec::new();
    for i in 0..tokens.len().saturating_sub(1) {
        let (true, Some(name)) = (tokens[i].is_ident("fn"), tokens[i + 1].ident()) else { continue };
        if in_test(i) {
            continue;
        }
        let mut nesting = 0i32;
        let body = (i + 2..tokens.len()).find_map(|j| {
            let t = &tokens[j];
            if t.is_punct('(') || t.is_punct('[') {
                nesting += 1;
            } else if t.is_punct(')') || t.is_punct(']') {
                nesting -= 1;
            } else if nesting == 0 && t.is_punct(';') {
                return Some(None);
            } else if nesting == 0 && t.is_punct('{') {
                return Some(Some(j));
            }
            None
        });
        if let Some(Some(open)) = body {
            let close = matching(tokens, open);
            let lines = tokens[close].line - tokens[i].line + 1;
            found.push(Function { name: name.to_owned(), line: tokens[i].line, lines });
        }
    }
    found
}

/// The name an item at `i` defines (`struct NAME`, `fn NAME`, `macro_rules! NAME`, …).
fn defined_name(tokens: &[Spanned], i: usize) -> Option<String> {
    let keyword = tokens[i].ident()?;
    let at = match keyword {
        "struct" | "enum" | "fn" | "trait" | "type" | "const" | "static" | "mod" | "union" => i + 1,
        "macro_rules" if tokens.get(i + 1)?.is_punct('!') => i + 2,
        _ => return None,
    };
    // `const fn NAME`, `unsafe fn`, `async fn`: the name follows the last keyword.
    let name = tokens.get(at)?.ident()?;
    match name {
        "fn" => defined_name(tokens, at),
        _ => Some(name.to_owned()),
    }
}

/// A path written in code starting at `i` (`a::b::c`, at least two segments), and where it ends.
fn inline_path(tokens: &[Spanned], i: usize) -> Option<(Vec<String>, usize)> {
    let first = tokens[i].ident()?;
    if i > 0 && tokens[i - 1].is_punct(':') {
        return None;
    }
    let mut path = vec![first.to_owned()];
    let mut j = i + 1;
    while j + 2 < tokens.len() && tokens[j].is_punct(':') && tokens[j + 1].is_punct(':') {
        match tokens[j + 2].ident() {
            Some(segment) => path.push(segment.to_owned()),
            None => break,
        }
        j += 3;
    }
    (path.len() > 1).then_some((path, j))
}

/// The paths of a `use` tree (after `use`, before `;`), each with the name it brings in (`*` for a
/// glob).
fn use_tree(tokens: &[Spanned]) -> Vec<(Vec<String>, Option<String>)> {
    let mut out = Vec::new();
    tree(tokens, &mut 0, Vec::new(), &mut out);
    out
}

/// One tree: segments joined by `::`, ending in a name (maybe `as` another), `*`, `self` or a
/// braced list of trees.
fn tree(
    tokens: &[Spanned],
    at: &mut usize,
    mut path: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    while let Some(token) = tokens.get(*at) {
        *at += 1;
        match &token.token {
            Token::Punct(':') => {}
            Token::Punct('*') => return out.push((path, Some("*".to_owned()))),
            Token::Punct('{') => {
                while tokens.get(*at).is_some_and(|t| !t.is_punct('}')) {
                    tree(tokens, at, path.clone(), out);
                    if tokens.get(*at).is_some_and(|t| t.is_punct(',')) {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            Token::Ident(word) if word == "self" && !path.is_empty() => {
                let name = path.last().cloned();
                return out.push((path, name));
            }
            Token::Ident(word) => {
                path.push(word.clone());
                if tokens.get(*at).is_some_and(|t| t.is_punct(':')) {
                    continue;
                }
                let mut name = Some(word.clone());
                if tokens.get(*at).is_some_and(|t| t.is_ident("as")) {
                    name =
                        tokens.get(*at + 1).and_then(Spanned::ident).filter(|a| *a != "_").map(str::to_owned);
                    *at += 2;
                }
                return out.push((path, name));
            }
            Token::Punct(_) | Token::Literal => return,
        }
    }
}
