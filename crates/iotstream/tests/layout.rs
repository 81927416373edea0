//! The workspace's shape, checked on every test run (`scripts/test` runs it first): no import
//! cycle between files or between modules at any level, no function over 50 lines and no file
//! over 600 lines, test code aside, in the source of every crate.
//!
//! Rust source is read with a small lexer of its own (comments, strings, characters and
//! lifetimes, braces), not a parser: enough to find functions, test modules and the paths a file
//! names (`use crate::…`, `super::…`, inline `crate::a::b`). A path is followed to the file that
//! defines the item it names, through `pub use` re-exports, so a `mod.rs` that only re-exports
//! adds no edge of its own. `mod` declarations are not imports.

mod layout {
    pub mod graph;
    pub mod lexer;
    pub mod source;
}

use std::path::{Path, PathBuf};

use layout::graph::{cycles, Graph};
use layout::source::{Crate, LONGEST_FILE, LONGEST_FUNCTION};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<Crate> {
    ["crates/engine", "crates/iotstream"].iter().map(|dir| Crate::read(&workspace().join(dir))).collect()
}

#[test]
fn no_function_is_longer_than_fifty_lines() {
    let mut long: Vec<String> = Vec::new();
    for krate in crates() {
        for file in krate.files.values() {
            for function in file.functions.iter().filter(|f| f.lines > LONGEST_FUNCTION) {
                long.push(format!(
                    "{}:{} fn {} ({} lines)",
                    file.shown, function.line, function.name, function.lines
                ));
            }
        }
    }
    assert!(long.is_empty(), "functions over {LONGEST_FUNCTION} lines:\n  {}", long.join("\n  "));
}

#[test]
fn no_file_is_longer_than_six_hundred_lines() {
    let mut long: Vec<String> = Vec::new();
    for krate in crates() {
        for file in krate.files.values().filter(|f| f.code_lines > LONGEST_FILE) {
            long.push(format!("{} ({} lines outside tests)", file.shown, file.code_lines));
        }
    }
    assert!(long.is_empty(), "files over {LONGEST_FILE} lines:\n  {}", long.join("\n  "));
}

#[test]
fn no_import_cycle_between_files_or_modules() {
    let mut found = Vec::new();
    for krate in crates() {
        let files = Graph::of_files(&krate);
        for depth in 1..=files.deepest() {
            for cycle in cycles(&files.at_depth(depth)) {
                found.push(format!("{}: {}", krate.name, cycle.join(" -> ")));
            }
        }
    }
    found.sort();
    found.dedup();
    assert!(found.is_empty(), "import cycles:\n  {}", found.join("\n  "));
}

/// The checks catch what they are for: a cycle, a long function, a long file, each made up here.
#[test]
fn the_checks_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    let long_body = "    let x = 1;\n".repeat(LONGEST_FUNCTION);
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).unwrap();
    write("lib.rs", "mod a;\nmod b;\npub use a::Thing;\n");
    write("a/mod.rs", "mod inner;\npub use inner::Thing;\n");
    write("a/inner.rs", "use crate::b::Other;\npub struct Thing(Other);\n");
    write("b.rs", &format!("pub struct Other;\nfn uses() -> crate::Thing {{\n{long_body}}}\n"));
    let padding = "// filler\n".repeat(LONGEST_FILE);
    write("c.rs", &format!("{padding}#[cfg(test)]\nmod tests {{\n    fn long() {{\n{long_body}    }}\n}}\n"));
    let krate = Crate::read(dir.path());
    let files = Graph::of_files(&krate);
    let cycle = cycles(&files).concat();
    assert!(cycle.contains(&"a/inner.rs".to_owned()) && cycle.contains(&"b.rs".to_owned()), "{cycle:?}");
    assert_eq!(cycles(&files.at_depth(1)).len(), 1, "a and b, as modules");
    let b = &krate.files[&src.join("b.rs")];
    assert!(b.functions.iter().any(|f| f.name == "uses" && f.lines > LONGEST_FUNCTION));
    let c = &krate.files[&src.join("c.rs")];
    assert!(c.functions.is_empty(), "test functions are not counted");
    assert_eq!(c.code_lines, LONGEST_FILE, "nor test lines");
    write("c.rs", &format!("{padding}// one more\n"));
    assert!(Crate::read(dir.path()).files[&src.join("c.rs")].code_lines > LONGEST_FILE);
}

/// The module dependency picture (`cargo test -p iotstream --test layout -- --ignored
/// --nocapture`): for each crate, every top-level module and the modules it uses, then the longest
/// functions and files.
#[test]
#[ignore = "prints the picture; checks nothing"]
fn print_module_dependencies() {
    for krate in crates() {
        let modules = Graph::of_files(&krate).at_depth(1);
        println!("{}:", krate.name);
        for node in &modules.nodes {
            let uses: Vec<&str> = modules
                .edges
                .iter()
                .filter(|(a, _)| a == node)
                .map(|(_, b)| b.trim_end_matches(".rs"))
                .collect();
            println!("  {:<12} -> {}", node.trim_end_matches(".rs"), uses.join(", "));
        }
    }
    let mut functions = Vec::new();
    let mut files = Vec::new();
    for krate in crates() {
        for file in krate.files.values() {
            files.push((file.code_lines, format!("{}/{}", krate.name, file.shown)));
            for f in &file.functions {
                functions.push((f.lines, format!("{}/{}:{} fn {}", krate.name, file.shown, f.line, f.name)));
            }
        }
    }
    functions.sort_by(|a, b| b.cmp(a));
    files.sort_by(|a, b| b.cmp(a));
    println!("longest functions (lines):");
    functions.iter().take(5).for_each(|(lines, name)| println!("  {lines:>4}  {name}"));
    println!("longest files (lines outside tests):");
    files.iter().take(5).for_each(|(lines, name)| println!("  {lines:>4}  {name}"));
}
