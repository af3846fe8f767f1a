//! The books a new shop opens with: the Tornado book's featured title and its
//! ten copies, and a shelf of others. Stocked once, on the first start.

use crate::server::store::NewBook;
use crate::stock::FEATURED_BOOK;

pub const OPENING_SHELF: &[NewBook] = &[
    NewBook {
        id: FEATURED_BOOK,
        title: "The Definitive Guide to the Internet",
        author: "Anonymous",
        isbn: None,
        price_cents: 2000,
        copies: 10,
        featured: true,
    },
    NewBook {
        id: "introduction-to-tornado",
        title: "Introduction to Tornado",
        author: "Michael Dory, Adam Parrish, Brendan Berg",
        isbn: Some("9781449309077"),
        price_cents: 2999,
        copies: 12,
        featured: false,
    },
    NewBook {
        id: "the-rust-programming-language",
        title: "The Rust Programming Language",
        author: "Steve Klabnik, Carol Nichols",
        isbn: Some("9781718503106"),
        price_cents: 3999,
        copies: 8,
        featured: false,
    },
    NewBook {
        id: "designing-data-intensive-applications",
        title: "Designing Data-Intensive Applications",
        author: "Martin Kleppmann",
        isbn: Some("9781449373320"),
        price_cents: 4999,
        copies: 5,
        featured: false,
    },
    NewBook {
        id: "high-performance-browser-networking",
        title: "High Performance Browser Networking",
        author: "Ilya Grigorik",
        isbn: Some("9781449344764"),
        price_cents: 3499,
        copies: 6,
        featured: false,
    },
    NewBook {
        id: "the-pragmatic-programmer",
        title: "The Pragmatic Programmer",
        author: "David Thomas, Andrew Hunt",
        isbn: Some("9780135957059"),
        price_cents: 4499,
        copies: 7,
        featured: false,
    },
    NewBook {
        id: "structure-and-interpretation-of-computer-programs",
        title: "Structure and Interpretation of Computer Programs",
        author: "Harold Abelson, Gerald Jay Sussman",
        isbn: Some("9780262510875"),
        price_cents: 5500,
        copies: 3,
        featured: false,
    },
];
