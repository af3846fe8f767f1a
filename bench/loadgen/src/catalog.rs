//! A bookshop's catalog as a CSV file for `livecart books import`: made-up
//! but plausible titles, authors, ISBN-13s with their check digit, prices
//! and copies, the same every time for the same size.

use std::io::Write;
use std::path::Path;

const ADJECTIVES: &[&str] = &[
    "Silent",
    "Hidden",
    "Last",
    "Quiet",
    "Burning",
    "Northern",
    "Broken",
    "Golden",
    "Distant",
    "Secret",
    "Wandering",
    "Little",
    "Endless",
    "Painted",
    "Forgotten",
    "Winter",
];
const NOUNS: &[&str] = &[
    "Harbour",
    "Garden",
    "Library",
    "River",
    "Orchard",
    "Lighthouse",
    "Station",
    "Kingdom",
    "Archive",
    "Island",
    "Mountain",
    "Letter",
    "Compass",
    "Machine",
    "Forest",
    "Theory",
];
const GIVEN: &[&str] = &[
    "Ada", "Ben", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi",
    "Lena", "Mateo", "Noor", "Olga", "Pavel",
];
const FAMILY: &[&str] = &[
    "Abara", "Berg", "Castillo", "Dubois", "Eriksen", "Fischer", "Gallo", "Haddad", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov",
];

/// A small deterministic generator (xorshift), so a size always makes the same file.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

fn isbn13(body: u64) -> String {
    let digits = format!("978{:09}", body % 1_000_000_000);
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// Writes `books` books to `path`: header `id,title,author,isbn,price,copies`.
pub fn write(path: &Path, books: usize) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "id,title,author,isbn,price,copies")?;
    let mut numbers = Numbers(0x9E37_79B9_7F4A_7C15);
    for i in 0..books {
        let title = format!(
            "The {} {} {}",
            numbers.pick(ADJECTIVES),
            numbers.pick(NOUNS),
            i + 1
        );
        let author = format!("{} {}", numbers.pick(GIVEN), numbers.pick(FAMILY));
        let price_cents = 500 + numbers.next() % 5500;
        let copies = numbers.next() % 21;
        writeln!(
            out,
            "catalog-book-{},{title},{author},{},{}.{:02},{copies}",
            i + 1,
            isbn13(i as u64 + 1),
            price_cents / 100,
            price_cents % 100
        )?;
    }
    out.flush()
}
