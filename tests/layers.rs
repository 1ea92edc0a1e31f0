//! The shape of the code, checked: every file of src/ is read with `syn`, each import of
//! another file of the crate is an edge (a `use crate::…`/`super::…`/`self::…`, a path
//! such as `crate::names::shown(…)` in the code, and a parent's re-export of a child's
//! item), and the test fails on an import loop between files or on an import from a lower
//! layer up to a higher one (or between the modules of a layer kept apart). The layers are
//! declared once, in ARCHITECTURE.md's "Layers" table, which this reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// One layer of ARCHITECTURE.md's table.
struct Layer {
    name: String,
    modules: Vec<String>,
    /// Its modules must not import each other at all.
    apart: bool,
}

/// The layers, lowest first, as ARCHITECTURE.md's "Layers" table declares them (top
/// first): a file may import from its own layer and the ones below it, never from one
/// above. Each entry names top-level modules of the crate (a file or a folder).
fn layers() -> Vec<Layer> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
        .expect("read ARCHITECTURE.md");
    let section = text.split("\n## Layers\n").nth(1).expect("ARCHITECTURE.md has a Layers section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut layers: Vec<Layer> = section
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let modules = cells[1].split(',').map(|name| name.trim().trim_matches('`').to_string()).collect();
            Layer { name: cells[0].to_string(), modules, apart: cells[2] == "yes" }
        })
        .collect();
    assert!(layers.len() >= 3, "ARCHITECTURE.md's Layers table has too few rows");
    layers.reverse();
    layers
}

type Module = Vec<String>;

/// Every .rs file of the library under `src`, by the module path it defines (main.rs is
/// the binary: it reaches the library by its name, from the top).
fn files(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") && path != src.join("main.rs") {
                let rel = path.strip_prefix(src).expect("under src").with_extension("");
                let mut module: Module = rel.iter().map(|part| part.to_string_lossy().into_owned()).collect();
                if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    module.pop();
                }
                found.insert(module, path);
            }
        }
    }
    found
}

/// The paths a file names that start at `crate`, `super` or `self`, or at a child module
/// it declares (in a `use` only: calling down into a child is what a parent does).
#[derive(Default)]
struct Imports {
    paths: Vec<Vec<String>>,
    children: BTreeSet<String>,
    /// Child files compiled only for unit tests (`#[cfg(test)] mod tests;`).
    test_children: BTreeSet<String>,
    /// `#[macro_export]` macros this file defines: `crate::name!` leads here.
    macros: BTreeSet<String>,
}

impl Imports {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => self.push_use(prefix, Some(name.ident.to_string())),
            syn::UseTree::Rename(rename) => self.push_use(prefix, Some(rename.ident.to_string())),
            syn::UseTree::Glob(_) => self.push_use(prefix, None),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn push_use(&mut self, prefix: &[String], last: Option<String>) {
        let mut path = prefix.to_vec();
        path.extend(last.filter(|name| name != "self"));
        self.paths.push(path);
    }
}

impl<'ast> Visit<'ast> for Imports {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        // Unit tests may reach anywhere: they are not the house.
        let attrs = match item {
            syn::Item::Mod(item) => &item.attrs,
            syn::Item::Use(item) => &item.attrs,
            syn::Item::Fn(item) => &item.attrs,
            syn::Item::Impl(item) => &item.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        let cfg_test = attrs.iter().any(|attr| {
            attr.path().is_ident("cfg") && attr.meta.require_list().is_ok_and(|list| list.tokens.to_string() == "test")
        });
        match (cfg_test, item) {
            (true, syn::Item::Mod(item)) if item.content.is_none() => {
                self.test_children.insert(item.ident.to_string());
            }
            (true, _) => {}
            (false, _) => syn::visit::visit_item(self, item),
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if item.content.is_none() {
            self.children.insert(item.ident.to_string());
        }
        syn::visit::visit_item_mod(self, item);
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        let exported = item.attrs.iter().any(|attr| attr.path().is_ident("macro_export"));
        if let (true, Some(name)) = (exported, &item.ident) {
            self.macros.insert(name.to_string());
        }
        syn::visit::visit_item_macro(self, item);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|segment| segment.ident.to_string()).collect();
        // A lone `crate` is a visibility, `pub(crate)`, not an import.
        if segments.len() > 1 && matches!(segments[0].as_str(), "crate" | "super") {
            self.paths.push(segments);
        }
        syn::visit::visit_path(self, path);
    }
}

/// The module a path leads to, seen from `here` (the module of a file; `is_dir` when the
/// file is a folder's mod.rs, lib.rs or main.rs).
fn absolute(here: &Module, is_dir: bool, path: &[String], children: &BTreeSet<String>) -> Option<Module> {
    let (first, rest) = path.split_first()?;
    let mut base: Module = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.clone(),
        "super" => here[..here.len().saturating_sub(1)].to_vec(),
        child if is_dir && children.contains(child) => {
            let mut base = here.clone();
            base.push(child.to_string());
            base
        }
        _ => return None,
    };
    for segment in rest {
        match segment.as_str() {
            "super" => {
                base.pop();
            }
            "self" => {}
            name => base.push(name.to_string()),
        }
    }
    Some(base)
}

/// The file that defines the longest prefix of `module`.
fn owner<'a>(files: &'a BTreeMap<Module, PathBuf>, module: &Module) -> Option<&'a Module> {
    (0..=module.len()).rev().find_map(|len| files.get_key_value(&module[..len].to_vec()).map(|(key, _)| key))
}

/// Every import between two files: importer -> imported.
fn edges(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = files(src);
    let mut read = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).expect("read source");
        let parsed = syn::parse_file(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let mut imports = Imports::default();
        imports.visit_file(&parsed);
        read.insert(module.clone(), imports);
    }
    // Files compiled only for unit tests are not the house.
    for (module, imports) in &read {
        for child in &imports.test_children {
            let mut test_module = module.clone();
            test_module.push(child.clone());
            files.remove(&test_module);
        }
    }
    let macros: BTreeMap<&String, &Module> =
        read.iter().flat_map(|(module, imports)| imports.macros.iter().map(move |name| (name, module))).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, path) in &files {
        let imports = &read[module];
        let is_dir = matches!(path.file_stem().and_then(|stem| stem.to_str()), Some("mod" | "lib" | "main"));
        for path in &imports.paths {
            let Some(target) = absolute(module, is_dir, path, &imports.children) else { continue };
            let to = match (target.as_slice(), path.len()) {
                ([name], 2) if macros.contains_key(name) => Some(macros[name]),
                _ => owner(&files, &target),
            };
            if let Some(to) = to {
                if to != module {
                    edges.entry(module.clone()).or_default().insert(to.clone());
                }
            }
        }
    }
    edges
}

fn shown(module: &Module) -> String {
    match module.is_empty() {
        true => "crate root".to_string(),
        false => module.join("::"),
    }
}

/// The layer of a module, by its top-level module: (layer index, top-level name).
fn layer(layers: &[Layer], module: &Module) -> (usize, String) {
    let top = module.first().map_or("lib", String::as_str);
    let index = layers.iter().position(|layer| layer.modules.iter().any(|name| name == top));
    let index = index.unwrap_or_else(|| panic!("src/{top} is in no layer: add it to ARCHITECTURE.md's Layers table"));
    (index, top.to_string())
}

/// Groups of files that import each other (strongly connected, more than one file).
fn loops(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    let nodes: BTreeSet<&Module> = edges.iter().flat_map(|(from, tos)| std::iter::once(from).chain(tos)).collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for start in &nodes {
        if !seen.insert(*start) {
            continue;
        }
        let mut stack = vec![(*start, edges.get(*start).into_iter().flatten().collect::<Vec<_>>())];
        while let Some((node, next)) = stack.last_mut() {
            match next.pop() {
                Some(to) => {
                    if seen.insert(to) {
                        let more = edges.get(to).into_iter().flatten().collect();
                        stack.push((to, more));
                    }
                }
                None => {
                    order.push(*node);
                    stack.pop();
                }
            }
        }
    }
    let mut reversed: BTreeMap<&Module, Vec<&Module>> = BTreeMap::new();
    for (from, tos) in edges {
        for to in tos {
            reversed.entry(to).or_default().push(from);
        }
    }
    let mut placed = BTreeSet::new();
    let mut groups = Vec::new();
    for start in order.into_iter().rev() {
        if !placed.insert(start) {
            continue;
        }
        let (mut group, mut stack) = (vec![start.clone()], vec![start]);
        while let Some(node) = stack.pop() {
            for from in reversed.get(node).into_iter().flatten() {
                if placed.insert(*from) {
                    group.push((*from).clone());
                    stack.push(from);
                }
            }
        }
        if group.len() > 1 {
            group.sort();
            groups.push(group);
        }
    }
    groups
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_file_imports_from_a_layer_above_its_own() {
    let layers = layers();
    let mut wrong = Vec::new();
    for (from, tos) in edges(&src()) {
        let (from_layer, from_top) = layer(&layers, &from);
        for to in tos {
            let (to_layer, to_top) = layer(&layers, &to);
            let sideways = from_layer == to_layer && from_top != to_top && layers[from_layer].apart;
            if to_layer > from_layer || sideways {
                let (from_name, to_name) = (&layers[from_layer].name, &layers[to_layer].name);
                wrong.push(format!("{} ({from_name}) imports {} ({to_name})", shown(&from), shown(&to)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n  {}", wrong.join("\n  "));
}

#[test]
fn no_files_import_each_other_in_a_loop() {
    let found: Vec<String> =
        loops(&edges(&src())).iter().map(|group| group.iter().map(shown).collect::<Vec<_>>().join(", ")).collect();
    assert!(found.is_empty(), "files that import each other:\n  {}", found.join("\n  "));
}

#[test]
fn the_checks_see_a_loop_and_an_upward_import() {
    // The checks themselves, on a crate made for them: a store file that imports the
    // engine (upward) and two domain files that import each other.
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod addon; mod names; mod store; mod engine;");
    write("addon.rs", "use crate::names::shown;");
    write("names.rs", "pub fn shown() { crate::addon::x(); }");
    write("store/mod.rs", "mod steps; pub use steps::Step;");
    write("store/steps.rs", "use super::super::engine::Engine;");
    write("engine/mod.rs", "pub struct Engine;");
    let edges = edges(dir.path());
    let module = |path: &str| -> Module { path.split("::").map(String::from).collect() };
    assert!(edges[&module("store::steps")].contains(&module("engine")));
    assert!(edges[&module("store")].contains(&module("store::steps")));
    let layers = layers();
    assert!(layer(&layers, &module("store::steps")).0 < layer(&layers, &module("engine")).0);
    assert_eq!(loops(&edges), vec![vec![module("addon"), module("names")]]);
}
