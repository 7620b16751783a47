//! Tests of the account fields.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::*;
use crate::Error;

/// Asserts that `result` is an [`Error::InvalidInput`] for `field`.
#[track_caller]
fn assert_invalid<T: fmt::Debug>(result: crate::Result<T>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: got, .. }) => assert_eq!(got, field),
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}

/// Asserts that `T` serializes as the JSON string `json` and deserializes back through parse.
#[track_caller]
fn assert_serde_round_trip<T>(value: &T, json: &str)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
{
    assert_eq!(serde_json::to_string(value).unwrap(), json);
    let back: T = serde_json::from_str(json).unwrap();
    assert_eq!(&back, value);
}

// --- Username --------------------------------------------------------------------------

#[test]
fn username_accepts_allowed_characters_and_keeps_case() {
    let name = Username::parse("John.Doe_42-x").unwrap();
    assert_eq!(name.as_str(), "John.Doe_42-x");
    assert_eq!(name.key(), "john.doe_42-x");
    assert_eq!(name.to_string(), "John.Doe_42-x");
    assert_eq!(AsRef::<str>::as_ref(&name), "John.Doe_42-x");
    assert_eq!(String::from(name), "John.Doe_42-x");
}

#[test]
fn username_length_boundaries() {
    assert_invalid(Username::parse(""), "username");
    assert_invalid(Username::parse("ab"), "username");
    assert!(Username::parse("abc").is_ok());
    assert!(Username::parse("a".repeat(Username::MAX_CHARS)).is_ok());
    assert_invalid(
        Username::parse("a".repeat(Username::MAX_CHARS + 1)),
        "username",
    );
    assert_eq!(Username::MIN_CHARS, 3);
    assert_eq!(Username::MAX_CHARS, 32);
}

#[test]
fn username_rejects_outer_whitespace_instead_of_trimming() {
    assert_invalid(Username::parse(" alice"), "username");
    assert_invalid(Username::parse("alice "), "username");
    assert_invalid(Username::parse("\talice"), "username");
    assert_invalid(Username::parse("alice\u{a0}"), "username");
}

#[test]
fn username_rejects_other_characters() {
    for bad in [
        "al ice",
        "al@ice",
        "al+ice",
        "alice!",
        "jöhn",
        "名前名前",
        "ali\u{0}ce",
        "ａｌｉｃｅ",
    ] {
        assert_invalid(Username::parse(bad), "username");
    }
}

#[test]
fn username_refuses_reserved_names_in_any_case() {
    for bad in ["deleted", "Deleted", "DELETED"] {
        assert_invalid(Username::parse(bad), "username");
    }
    assert!(Username::parse("deleted2").is_ok());
    assert!(Username::parse("undeleted").is_ok());
}

#[test]
fn username_uniqueness_key_is_case_insensitive() {
    let a = Username::parse("Alice").unwrap();
    let b = Username::parse("aLICE").unwrap();
    assert_ne!(a, b);
    assert_eq!(a.key(), b.key());
}

#[test]
fn username_conversions_and_serde() {
    assert!(Username::try_from("alice").is_ok());
    assert!(Username::try_from(String::from("alice")).is_ok());
    assert!("alice".parse::<Username>().is_ok());
    assert_invalid(Username::try_from("a"), "username");
    assert_serde_round_trip(&Username::parse("Alice").unwrap(), "\"Alice\"");
    assert!(serde_json::from_str::<Username>("\"a b\"").is_err());
    assert!(serde_json::from_str::<Username>("42").is_err());
}

// --- Password --------------------------------------------------------------------------

#[test]
fn password_byte_length_boundaries() {
    assert_invalid(Password::parse(""), "password");
    assert_invalid(Password::parse("zq7!mB2"), "password");
    assert!(Password::parse("zq7!mB2p").is_ok());
    assert!(Password::parse("z".repeat(Password::MAX_BYTES)).is_ok());
    assert_invalid(
        Password::parse("z".repeat(Password::MAX_BYTES + 1)),
        "password",
    );
    assert_eq!(Password::MIN_BYTES, 8);
    assert_eq!(Password::MAX_BYTES, 1024);
}

#[test]
fn password_length_counts_bytes_not_chars() {
    // Four two-byte characters: 4 chars, 8 bytes.
    assert!(Password::parse("éüöä").is_ok());
    // Three two-byte characters and one ASCII: 4 chars, 7 bytes.
    assert_invalid(Password::parse("éüöa"), "password");
    // 1024 bytes of emoji (4 bytes each) is fine, one more byte is not.
    let emoji = "🔑".repeat(256);
    assert_eq!(emoji.len(), 1024);
    assert!(Password::parse(emoji.clone()).is_ok());
    assert_invalid(Password::parse(emoji + "x"), "password");
}

#[test]
fn password_has_no_composition_rules() {
    for ok in [
        "correct horse battery staple",
        "zzzzzzzzzz",
        "  spaces around  ",
        "日本語のパスワード",
        "tab\there!",
    ] {
        assert_eq!(Password::parse(ok).unwrap().expose(), ok);
    }
}

#[test]
fn password_rejects_common_passwords_case_insensitively() {
    for bad in [
        "password",
        "PASSWORD",
        "PassWord1",
        "12345678",
        "123456789",
        "qwertyuiop",
        "iloveyou",
        "Trustno1",
        "P@ssw0rd",
        "changeme",
        "CONTRASEÑA",
    ] {
        assert_invalid(Password::parse(bad), "password");
    }
}

#[test]
fn password_errors_never_echo_the_password() {
    for bad in ["short", "Password123", &"secret-long".repeat(100)] {
        let err = Password::parse(bad).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains(bad), "{text}");
        assert!(!format!("{err:?}").contains(bad));
    }
}

#[test]
fn password_debug_is_redacted() {
    let password = Password::parse("hunter2-is-long").unwrap();
    assert_eq!(format!("{password:?}"), "Password(***)");
    assert_eq!(
        format!("{:?}", Some(password.clone())),
        "Some(Password(***))"
    );
    assert_eq!(password.expose(), "hunter2-is-long");
}

#[test]
fn password_conversions_and_deserialize() {
    assert!(Password::try_from("hunter2-is-long").is_ok());
    assert!(Password::try_from(String::from("hunter2-is-long")).is_ok());
    assert!("hunter2-is-long".parse::<Password>().is_ok());
    let password: Password = serde_json::from_str("\"hunter2-is-long\"").unwrap();
    assert_eq!(password.expose(), "hunter2-is-long");
    assert!(serde_json::from_str::<Password>("\"password\"").is_err());
    assert!(serde_json::from_str::<Password>("\"short\"").is_err());
}

#[test]
fn common_password_list_is_usable() {
    let raw = include_str!("common_passwords.txt");
    let mut count = 0;
    for line in raw.lines() {
        assert_eq!(line, line.trim(), "stray whitespace in {line:?}");
        assert!(
            line.len() >= Password::MIN_BYTES,
            "{line:?} is shorter than 8 bytes"
        );
        assert_eq!(line, line.to_lowercase(), "{line:?} is not lowercase");
        count += 1;
    }
    assert!(count >= 150, "only {count} common passwords");
    assert_eq!(
        Password::common()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        count,
        "duplicate entries"
    );
}

// --- Email -----------------------------------------------------------------------------

#[test]
fn email_is_lowercased() {
    let email = Email::parse("Alice.Smith+Tag@Example.COM").unwrap();
    assert_eq!(email.as_str(), "alice.smith+tag@example.com");
    assert_eq!(
        Email::parse("ÜNÏ@Exämple.ORG").unwrap().as_str(),
        "ünï@exämple.org"
    );
    assert_eq!(
        Email::parse("a@b.c").unwrap(),
        Email::parse("A@B.C").unwrap()
    );
}

#[test]
fn email_rejects_whitespace_and_control_characters() {
    for bad in [
        " a@b.c",
        "a@b.c ",
        "a@b.c\n",
        "\u{3000}a@b.c",
        "a b@c.d",
        "a@b\tc.d",
        "a\u{7}@b.c",
        "a@b.c\u{0}x",
        "a\u{a0}b@c.d",
    ] {
        assert_invalid(Email::parse(bad), "email");
    }
}

#[test]
fn email_requires_exactly_one_at() {
    assert_invalid(Email::parse(""), "email");
    assert_invalid(Email::parse("alice.example.com"), "email");
    assert_invalid(Email::parse("a@b@example.com"), "email");
    assert_invalid(Email::parse("@@example.com"), "email");
}

#[test]
fn email_local_part_rules() {
    assert_invalid(Email::parse("@example.com"), "email");
    assert!(Email::parse(format!("{}@example.com", "a".repeat(64))).is_ok());
    assert_invalid(
        Email::parse(format!("{}@example.com", "a".repeat(65))),
        "email",
    );
    // Counted in characters, not bytes.
    assert!(Email::parse(format!("{}@example.com", "é".repeat(64))).is_ok());
    assert_invalid(
        Email::parse(format!("{}@example.com", "é".repeat(65))),
        "email",
    );
}

#[test]
fn email_domain_rules() {
    for bad in ["a@", "a@example", "a@.com", "a@example.", "a@."] {
        assert_invalid(Email::parse(bad), "email");
    }
    assert!(Email::parse("a@b.c").is_ok());
    assert!(Email::parse("a@mail.example.co.uk").is_ok());
}

#[test]
fn email_total_length_boundary() {
    let local = "a".repeat(64);
    // 64 + 1 + 185 + 4 = 254
    let ok = format!("{local}@{}.com", "b".repeat(185));
    assert_eq!(ok.chars().count(), 254);
    assert!(Email::parse(ok).is_ok());
    let too_long = format!("{local}@{}.com", "b".repeat(186));
    assert_invalid(Email::parse(too_long), "email");
    // Characters, not bytes.
    let unicode = format!("{local}@{}.com", "é".repeat(185));
    assert!(Email::parse(unicode).is_ok());
}

#[test]
fn email_conversions_and_serde() {
    assert!(Email::try_from("a@b.c").is_ok());
    assert!(Email::try_from(String::from("a@b.c")).is_ok());
    assert_eq!(Email::parse("A@B.C").unwrap().to_string(), "a@b.c");
    assert_serde_round_trip(&Email::parse("a@b.c").unwrap(), "\"a@b.c\"");
    let lowered: Email = serde_json::from_str("\"A@B.C\"").unwrap();
    assert_eq!(lowered.as_str(), "a@b.c");
    assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
}

// --- DisplayName -----------------------------------------------------------------------

#[test]
fn display_name_length_boundaries_in_chars() {
    assert_invalid(DisplayName::parse(""), "display_name");
    assert!(DisplayName::parse("A").is_ok());
    assert!(DisplayName::parse("x".repeat(64)).is_ok());
    assert_invalid(DisplayName::parse("x".repeat(65)), "display_name");
    assert!(DisplayName::parse("ü".repeat(64)).is_ok());
    assert!(DisplayName::parse("🙂".repeat(64)).is_ok());
    assert_invalid(DisplayName::parse("🙂".repeat(65)), "display_name");
    assert_eq!(DisplayName::MAX_CHARS, 64);
}

#[test]
fn display_name_rejects_outer_whitespace_and_controls() {
    for bad in [
        " ",
        " Jane",
        "Jane ",
        "\u{3000}Jane",
        "Jane\u{2003}",
        "Ja\nne",
        "Ja\u{0}ne",
        "Ja\u{7f}ne",
        "Ja\u{85}ne",
    ] {
        assert_invalid(DisplayName::parse(bad), "display_name");
    }
}

/// Characters that make one name look like another, or reorder what follows it.
const HIDDEN: [char; 20] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200B}', '\u{2060}', '\u{FEFF}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{00AD}',
    '\u{3164}', '\u{115F}', '\u{1B}', '\u{9F}',
];

#[test]
fn display_name_refuses_bidi_controls_and_invisible_characters() {
    for c in HIDDEN {
        for bad in [
            format!("ad{c}min"),
            format!("{c}admin"),
            format!("admin{c}"),
        ] {
            assert_invalid(DisplayName::parse(bad), "display_name");
        }
    }
    // The classic: a right-to-left override turning "exe.txt" around.
    assert_invalid(DisplayName::parse("photo\u{202E}gpj.exe"), "display_name");
    // A name made of fillers only shows as nothing.
    assert_invalid(DisplayName::parse("\u{3164}\u{3164}"), "display_name");
}

#[test]
fn zero_width_joiners_only_where_emoji_and_scripts_need_them() {
    for joiner in ['\u{200C}', '\u{200D}'] {
        for bad in [
            format!("ad{joiner}min"),
            format!("{joiner}Jane"),
            format!("Jane{joiner}"),
            format!("Jane {joiner}Doe"),
            format!("é{joiner}{joiner}é"),
            format!("🚀{joiner}a"),
        ] {
            assert_invalid(DisplayName::parse(bad.clone()), "display_name");
            assert_invalid(Status::parse(bad), "status");
        }
    }
    for ok in [
        "👩\u{200D}💻 Ada",
        "🏃\u{200D}♀\u{FE0F}",
        "❤\u{FE0F}\u{200D}🔥",
        "علی\u{200C}رضا",
        "क्\u{200D}ष",
    ] {
        assert_eq!(DisplayName::parse(ok).unwrap().as_str(), ok);
        assert_eq!(Status::parse(ok).unwrap().as_str(), ok);
    }
}

#[test]
fn display_name_keeps_text_as_given() {
    for ok in ["Jane  Doe", "李小龍", "Zoë 🚀", "O'Brien-Smith"] {
        assert_eq!(DisplayName::parse(ok).unwrap().as_str(), ok);
    }
    assert_serde_round_trip(&DisplayName::parse("Zoë").unwrap(), "\"Zoë\"");
    assert!(serde_json::from_str::<DisplayName>("\"\"").is_err());
    assert!(DisplayName::try_from("Jane").is_ok());
    assert!(DisplayName::try_from(String::from("Jane")).is_ok());
}

// --- Status ----------------------------------------------------------------------------

#[test]
fn status_length_boundaries_in_chars() {
    let empty = Status::parse("").unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty, Status::default());
    assert!(Status::parse("s".repeat(140)).is_ok());
    assert_invalid(Status::parse("s".repeat(141)), "status");
    assert!(Status::parse("é".repeat(140)).is_ok());
    assert_invalid(Status::parse("é".repeat(141)), "status");
    assert_eq!(Status::MAX_CHARS, 140);
}

#[test]
fn status_rejects_control_characters() {
    for bad in ["line\nbreak", "tab\there", "\u{0}", "bell\u{7}", "\r"] {
        assert_invalid(Status::parse(bad), "status");
    }
}

#[test]
fn status_refuses_bidi_controls_and_invisible_characters() {
    for c in HIDDEN {
        assert_invalid(Status::parse(format!("out{c} of office")), "status");
    }
}

#[test]
fn status_keeps_text_as_given() {
    for ok in ["  ", " away ", "🏖️ on holiday", "busy"] {
        let status = Status::parse(ok).unwrap();
        assert_eq!(status.as_str(), ok);
        assert!(!status.is_empty());
    }
    assert_serde_round_trip(&Status::default(), "\"\"");
    assert!(Status::try_from("busy").is_ok());
    assert!(Status::try_from(String::from("busy")).is_ok());
}

// --- Phone -----------------------------------------------------------------------------

#[test]
fn phone_is_normalised() {
    assert_eq!(
        Phone::parse("+1 555-123-4567").unwrap().as_str(),
        "+15551234567"
    );
    assert_eq!(
        Phone::parse("0049 30 123456").unwrap().as_str(),
        "004930123456"
    );
    assert_eq!(Phone::parse("555-1234").unwrap().as_str(), "5551234");
    assert_eq!(
        Phone::parse("+441234567890").unwrap().as_str(),
        "+441234567890"
    );
}

#[test]
fn phone_digit_count_boundaries() {
    assert_invalid(Phone::parse(""), "phone");
    assert_invalid(Phone::parse("+"), "phone");
    assert_invalid(Phone::parse("12345"), "phone");
    assert_invalid(Phone::parse("+12-345"), "phone");
    assert!(Phone::parse("123456").is_ok());
    assert!(Phone::parse("+123456").is_ok());
    assert!(Phone::parse("1".repeat(20)).is_ok());
    assert_invalid(Phone::parse("1".repeat(21)), "phone");
    // Separators do not count.
    assert!(Phone::parse("12 34 56").is_ok());
    assert!(Phone::parse("1234567890-1234567890").is_ok());
    assert_invalid(Phone::parse("1234567890-12345678901"), "phone");
}

#[test]
fn phone_separators_only_between_digits() {
    for bad in [
        " 123456", "123456 ", "-123456", "123456-", "123  456", "123--456", "123 -456", "+ 123456",
        "+-123456",
    ] {
        assert_invalid(Phone::parse(bad), "phone");
    }
}

#[test]
fn phone_rejects_other_characters() {
    for bad in [
        "++123456",
        "123+456789",
        "(555) 123456",
        "555.123.456",
        "12a456",
        "123\t456",
        "١٢٣٤٥٦",
        "１２３４５６",
    ] {
        assert_invalid(Phone::parse(bad), "phone");
    }
}

#[test]
fn phone_conversions_and_serde() {
    assert!(Phone::try_from("123456").is_ok());
    assert!(Phone::try_from(String::from("123456")).is_ok());
    assert_serde_round_trip(&Phone::parse("+123456").unwrap(), "\"+123456\"");
    let normalised: Phone = serde_json::from_str("\"+1 234-567\"").unwrap();
    assert_eq!(normalised.as_str(), "+1234567");
}

// --- ExternalId ------------------------------------------------------------------------

#[test]
fn external_id_byte_length_boundaries() {
    assert_invalid(ExternalId::parse(""), "external_id");
    assert!(ExternalId::parse("x").is_ok());
    assert!(ExternalId::parse("x".repeat(255)).is_ok());
    assert_invalid(ExternalId::parse("x".repeat(256)), "external_id");
    // 127 two-byte characters plus one ASCII: 255 bytes.
    assert!(ExternalId::parse("é".repeat(127) + "x").is_ok());
    // 128 two-byte characters: 128 chars, but 256 bytes.
    assert_invalid(ExternalId::parse("é".repeat(128)), "external_id");
    assert_eq!(ExternalId::MAX_BYTES, 255);
}

#[test]
fn external_id_rejects_outer_whitespace_and_controls() {
    for bad in [
        " ",
        " id",
        "id ",
        "\u{3000}id",
        "i\nd",
        "i\u{0}d",
        "i\u{1b}d",
    ] {
        assert_invalid(ExternalId::parse(bad), "external_id");
    }
}

#[test]
fn external_id_keeps_value_as_given() {
    for ok in [
        "user 42",
        "auth0|5f7c8ec7c33c6c004bbafe82",
        "Ünïcødé-ID",
        "00000000-0000",
    ] {
        assert_eq!(ExternalId::parse(ok).unwrap().as_str(), ok);
    }
    assert_serde_round_trip(&ExternalId::parse("ext-1").unwrap(), "\"ext-1\"");
    assert!(ExternalId::try_from("ext-1").is_ok());
    assert!(ExternalId::try_from(String::from("ext-1")).is_ok());
}
