//! G.711 µ-law (PCMU) and A-law (PCMA) per ITU-T G.711, decode and encode.

/// Decodes one µ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let sample = if sign != 0 { -magnitude } else { magnitude };
    // |sample| <= 32124, always within i16.
    sample as i16
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let sign = a & 0x80;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0f);
    let mut magnitude = (mantissa << 4) + 8;
    if exponent != 0 {
        magnitude = (magnitude + 0x100) << (exponent - 1);
    }
    // |sample| <= 32256, always within i16.
    (if sign != 0 { magnitude } else { -magnitude }) as i16
}

fn segment(value: i32) -> u8 {
    // Position of the highest set bit among bits 7..=14, minus 7 (0..=7).
    let mut exponent = 7u8;
    let mut mask = 0x4000;
    while exponent > 0 && value & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    exponent
}

/// Encodes a 16-bit linear sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut value = i32::from(sample);
    let sign = if value < 0 {
        value = -value;
        0x80
    } else {
        0
    };
    let value = value.min(CLIP) + BIAS;
    let exponent = segment(value);
    let mantissa = ((value >> (exponent + 3)) & 0x0f) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Encodes a 16-bit linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let value = i32::from(sample);
    let (sign, magnitude) = if value >= 0 {
        (0x80u8, value)
    } else {
        (0u8, -value - 1)
    };
    let (exponent, mantissa) = if magnitude < 256 {
        (0u8, ((magnitude >> 4) & 0x0f) as u8)
    } else {
        let exponent = segment(magnitude);
        (exponent, ((magnitude >> (exponent + 3)) & 0x0f) as u8)
    };
    (sign | (exponent << 4) | mantissa) ^ 0x55
}

/// Appends the decoded samples of a PCMU payload to `out`.
pub fn decode_ulaw(payload: &[u8], out: &mut Vec<i16>) {
    out.extend(payload.iter().map(|&b| ulaw_to_linear(b)));
}

/// Appends the decoded samples of a PCMA payload to `out`.
pub fn decode_alaw(payload: &[u8], out: &mut Vec<i16>) {
    out.extend(payload.iter().map(|&b| alaw_to_linear(b)));
}
