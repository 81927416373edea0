//! `%XX` escapes in URLs, decoded once for every URL iotstream reads (the MQTT broker's
//! credentials, the PostgreSQL store's parameters): a password may hold `@`, `:` or `/` only
//! escaped.

/// Why a text is not percent-encoded UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PercentError {
    /// `%` without two characters after it.
    #[error("a % escape in the URL is cut short")]
    CutShort,
    /// `%` followed by something that is not two hexadecimal digits.
    #[error("bad % escape %{0} in the URL")]
    NotHex(String),
    /// The decoded bytes are not UTF-8.
    #[error("the URL's credentials are not UTF-8")]
    NotUtf8,
}

/// Decodes every `%XX` escape in `text`.
pub fn decode(text: &str) -> Result<String, PercentError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = text.get(i + 1..i + 3).ok_or(PercentError::CutShort)?;
        let byte = match hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            true => u8::from_str_radix(hex, 16).map_err(|_| PercentError::NotHex(hex.to_owned()))?,
            false => return Err(PercentError::NotHex(hex.to_owned())),
        };
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out).map_err(|_| PercentError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_and_bad_ones_say_why() {
        assert_eq!(decode("p%40ss%3Aw"), Ok("p@ss:w".to_owned()));
        assert_eq!(decode("plain"), Ok("plain".to_owned()));
        assert_eq!(decode("%4"), Err(PercentError::CutShort));
        assert_eq!(decode("%zz"), Err(PercentError::NotHex("zz".into())));
        assert_eq!(decode("%+1"), Err(PercentError::NotHex("+1".into())), "from_str_radix takes a sign");
        assert_eq!(decode("%ff"), Err(PercentError::NotUtf8));
    }
}
