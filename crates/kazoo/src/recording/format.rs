//! Audio file formats and HTTP upload methods.

use serde::{Deserialize, Serialize};

/// The format a recording is stored and uploaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// MPEG-1 layer III, `.mp3`, `audio/mpeg`.
    Mp3,
    /// RIFF WAVE (PCM), `.wav`, `audio/wav`.
    Wav,
}

impl Format {
    /// Parses exactly `"mp3"` or `"wav"`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "mp3" => Some(Format::Mp3),
            "wav" => Some(Format::Wav),
            _ => None,
        }
    }

    /// File extension without the dot (`mp3`, `wav`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mp3 => "mp3",
            Format::Wav => "wav",
        }
    }

    /// The HTTP `Content-Type` of an upload in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            Format::Wav => "audio/wav",
        }
    }
}

/// HTTP method used to upload a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `PUT` (the default, as in KAZOO).
    Put,
    /// `POST`.
    Post,
}

impl Method {
    /// Parses `put` or `post`, ignoring ASCII case; anything else is `None`.
    pub fn parse(s: &str) -> Option<Method> {
        if s.eq_ignore_ascii_case("put") {
            Some(Method::Put)
        } else if s.eq_ignore_ascii_case("post") {
            Some(Method::Post)
        } else {
            None
        }
    }

    /// The method as sent on the wire (`PUT`, `POST`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}
