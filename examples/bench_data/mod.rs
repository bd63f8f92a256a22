//! Generated test data shared by the benchmarks: a seeded generator and realistic Philippine names,
//! mail domains, mobile prefixes and the like. Included with `#[path]`; not an example of its own.
#![allow(dead_code)] // each benchmark uses a different subset

pub struct Rng(pub u64);

impl Rng {
    /// A generator seeded from a text (FNV-1a of its bytes).
    pub fn seeded(s: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Rng(h)
    }
    /// SplitMix64.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// An index below `n`: the same draw as [`Rng::below`].
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

pub const FIRST: &[&str] = &[
    "Juan",
    "María",
    "José",
    "Ana",
    "Mark Anthony",
    "John Paul",
    "Kristine",
    "Jericho",
    "Angelica",
    "Rhea",
    "Mary Grace",
    "Jonathan",
    "Princess",
    "Ramon",
    "Lourdes",
    "Carlo",
    "Jasmine",
    "Rodel",
    "Aileen",
    "Christian",
    "Ma. Theresa",
    "Jun",
    "Lovely",
    "Ronaldo",
    "Cherry Ann",
    "Joshua",
    "Nicole",
    "Reynaldo",
    "Shiela",
    "Emmanuel",
];
pub const LAST: &[&str] = &[
    "Santos",
    "Reyes",
    "Cruz",
    "Bautista",
    "Ocampo",
    "Garcia",
    "Mendoza",
    "Torres",
    "Tomas",
    "Andrada",
    "Castillo",
    "Flores",
    "Villanueva",
    "Ramos",
    "Castro",
    "Rivera",
    "Aquino",
    "Navarro",
    "Salazar",
    "Mercado",
    "dela Cruz",
    "de los Santos",
    "Gonzales",
    "Lopez",
    "Pascual",
    "Dizon",
    "Fernández",
    "Manalo",
    "Sison",
    "Macapagal",
];
pub const DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
];
pub const PREFIXES: &[&str] = &[
    "917", "918", "919", "920", "921", "927", "928", "939", "945", "956", "966", "977", "995",
    "998",
];
pub const SOURCES: &[&str] = &[
    "Facebook",
    "Referral",
    "JobStreet",
    "Walk-in",
    "Indeed",
    "Kalibrr",
];
pub const CITIES: &[&str] = &[
    "Quezon City",
    "Manila",
    "Makati",
    "Pasig",
    "Taguig",
    "Cebu City",
    "Davao City",
    "Caloocan",
];
