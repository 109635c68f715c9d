//! English country names for ISO 3166-1 alpha-2 codes, from the
//! `rust_iso3166` crate (the ISO/UN short names), not a table of ours.

/// The English name of `code`; `None` for "unknown" and codes ISO does not assign.
pub fn name(code: &str) -> Option<&'static str> {
    rust_iso3166::from_alpha2(&code.trim().to_ascii_uppercase()).map(|country| country.name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_come_from_the_iso_list() {
        assert_eq!(super::name("DE"), Some("Germany"));
        assert_eq!(super::name("ir"), Some("Iran (Islamic Republic of)"));
        assert_eq!(super::name("unknown"), None);
        assert_eq!(super::name("ZZ"), None);
    }
}
