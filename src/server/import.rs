//! Reading a catalog file for `livecart books import`: a CSV with a header
//! row naming its columns, each line checked like the staff page's Add a
//! book form. The first bad line stops the import before anything is
//! written, named with its line number and reason.

use std::collections::HashMap;
use std::path::Path;

use crate::server::inventory::{new_book, slug};
use crate::server::store::ImportLine;

/// The columns a file must have; `id` and `isbn` may be left out.
const REQUIRED: [&str; 4] = ["title", "author", "price", "copies"];

/// Every line of the file as a book to import, or the first bad line.
pub fn read_csv(path: &Path) -> Result<Vec<ImportLine>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| e.to_string())?;
    let header = reader.headers().map_err(|e| e.to_string())?.clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    for name in REQUIRED {
        if column(name).is_none() {
            return Err(format!(
                "the header must name the columns title, author, price and copies (and may name id and isbn); {name} is missing"
            ));
        }
    }
    let at = |name: &str| column(name);
    let (id, title, author, isbn, price, copies) = (
        at("id"),
        at("title"),
        at("author"),
        at("isbn"),
        at("price"),
        at("copies"),
    );
    let mut lines = Vec::new();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", p.line()),
            None => e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        let bad = |reason: String| format!("line {line}: {reason}");
        let copies = field(copies)
            .parse::<u32>()
            .map_err(|_| bad(format!("copies {:?} is not a whole number", field(copies))))?;
        let id = match field(id) {
            "" => slug(field(title))
                .ok_or_else(|| bad("no id, and the title makes none".into()))?
                .as_str()
                .to_string(),
            given => given.to_string(),
        };
        let book = new_book(
            &id,
            field(title),
            field(author),
            field(isbn),
            field(price),
            copies,
        )
        .map_err(bad)?;
        if let Some(first) = first_line_of.insert(book.id.clone(), line) {
            return Err(bad(format!("{} is already on line {first}", book.id)));
        }
        lines.push(ImportLine { line, book });
    }
    if lines.is_empty() {
        return Err("the file has no books".into());
    }
    Ok(lines)
}
