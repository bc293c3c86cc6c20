//! Line-aligned reading of raw objects: decompression chosen by the key's extension, byte
//! ranges that own exactly the lines starting inside them, and a bound on line length so a
//! job's memory depends on its configuration, never on its input.

use std::io::{BufRead, BufReader, Read};

/// Compression of a raw object, from its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn from_key(key: &str) -> Compression {
        if key.ends_with(".gz") {
            Compression::Gzip
        } else if key.ends_with(".zst") || key.ends_with(".zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Only uncompressed objects can be split into byte ranges.
    pub fn splittable(self) -> bool {
        self == Compression::None
    }

    /// Wraps a reader of the object's bytes into a reader of its lines' bytes.
    pub fn decoder<'a>(self, reader: impl Read + Send + 'a) -> std::io::Result<Box<dyn BufRead + Send + 'a>> {
        const BUFFER: usize = 256 * 1024;
        Ok(match self {
            Compression::None => Box::new(BufReader::with_capacity(BUFFER, reader)),
            Compression::Gzip => Box::new(BufReader::with_capacity(
                BUFFER,
                flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUFFER, reader)),
            )),
            Compression::Zstd => Box::new(BufReader::with_capacity(
                BUFFER,
                zstd::stream::read::Decoder::new(reader)?,
            )),
        })
    }
}

/// One line handed out by [`RangeLines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// Offset of the line's first byte in the (decompressed) object.
    pub offset: u64,
    /// 1-based line number counted from the start of the range.
    pub number_in_range: u64,
    /// The line exceeded the limit; its bytes were skipped, the buffer holds none of them.
    pub too_long: bool,
    /// Length of the line without its newline.
    pub length: u64,
}

/// Iterates over the lines whose first byte lies in `[start, end)`.
///
/// The reader must be positioned at `start - 1` when `start > 0` (so a range starting right
/// after a newline is recognised), else at 0. The last line may run past `end`.
pub struct RangeLines<R: BufRead> {
    reader: R,
    position: u64,
    end: Option<u64>,
    max_line_bytes: usize,
    lines: u64,
    started: bool,
    start: u64,
}

impl<R: BufRead> RangeLines<R> {
    pub fn new(reader: R, start: u64, end: Option<u64>, max_line_bytes: usize) -> RangeLines<R> {
        RangeLines {
            reader,
            position: start.saturating_sub(1),
            end,
            max_line_bytes,
            lines: 0,
            started: false,
            start,
        }
    }

    /// Lines handed out so far.
    pub fn lines_read(&self) -> u64 {
        self.lines
    }

    /// Reads the next line into `buffer` (cleared first, newline and `\r` removed).
    pub fn next_line(&mut self, buffer: &mut Vec<u8>) -> std::io::Result<Option<LineInfo>> {
        if !self.started {
            self.started = true;
            if self.start > 0 {
                // Skip the tail of the line that belongs to the previous range.
                self.skip_through_newline()?;
            }
        }
        buffer.clear();
        if let Some(end) = self.end {
            if self.position >= end {
                return Ok(None);
            }
        }
        let offset = self.position;
        let mut length: u64 = 0;
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                break;
            }
            saw_any = true;
            let (chunk_length, found_newline) = match memchr::memchr(b'\n', available) {
                Some(index) => (index, true),
                None => (available.len(), false),
            };
            if !too_long {
                if buffer.len() + chunk_length > self.max_line_bytes {
                    too_long = true;
                    buffer.clear();
                } else {
                    buffer.extend_from_slice(&available[..chunk_length]);
                }
            }
            length += chunk_length as u64;
            let consumed = chunk_length + usize::from(found_newline);
            self.reader.consume(consumed);
            self.position += consumed as u64;
            if found_newline {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        if buffer.last() == Some(&b'\r') {
            buffer.pop();
        }
        self.lines += 1;
        Ok(Some(LineInfo {
            offset,
            number_in_range: self.lines,
            too_long,
            length,
        }))
    }

    fn skip_through_newline(&mut self) -> std::io::Result<()> {
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(());
            }
            match memchr::memchr(b'\n', available) {
                Some(index) => {
                    self.reader.consume(index + 1);
                    self.position += index as u64 + 1;
                    return Ok(());
                }
                None => {
                    let length = available.len();
                    self.reader.consume(length);
                    self.position += length as u64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines_of_range(data: &[u8], start: u64, end: Option<u64>, max: usize) -> Vec<(u64, Vec<u8>, bool)> {
        let reader_start = start.saturating_sub(1) as usize;
        let mut lines = RangeLines::new(&data[reader_start..], start, end, max);
        let mut buffer = Vec::new();
        let mut out = Vec::new();
        while let Some(info) = lines.next_line(&mut buffer).unwrap() {
            out.push((info.offset, buffer.clone(), info.too_long));
        }
        out
    }

    #[test]
    fn long_lines_are_flagged_and_skipped() {
        let data = b"short\nthis line is far too long\nok\r\nlast-without-newline";
        let lines = lines_of_range(data, 0, None, 10);
        let texts: Vec<(&[u8], bool)> = lines.iter().map(|(_, text, long)| (text.as_slice(), *long)).collect();
        assert_eq!(
            texts,
            vec![
                (&b"short"[..], false),
                (&b""[..], true),
                (&b"ok"[..], false),
                (&b""[..], true)
            ]
        );
    }

    proptest! {
        #[test]
        fn ranges_partition_the_lines_exactly(
            lines in proptest::collection::vec("[a-z]{0,12}", 1..40),
            cuts in proptest::collection::vec(0usize..400, 0..6),
            trailing_newline in any::<bool>(),
        ) {
            let mut data = lines.join("\n").into_bytes();
            if trailing_newline { data.push(b'\n'); }
            let whole: Vec<(u64, Vec<u8>)> = lines_of_range(&data, 0, None, 1 << 20)
                .into_iter().map(|(offset, text, _)| (offset, text)).collect();
            let mut boundaries: Vec<u64> = cuts.into_iter().map(|cut| (cut % (data.len() + 1)) as u64).collect();
            boundaries.push(0);
            boundaries.push(data.len() as u64);
            boundaries.sort();
            boundaries.dedup();
            let mut pieced = Vec::new();
            for window in boundaries.windows(2) {
                for (offset, text, _) in lines_of_range(&data, window[0], Some(window[1]), 1 << 20) {
                    pieced.push((offset, text));
                }
            }
            prop_assert_eq!(pieced, whole);
        }
    }

    #[test]
    fn compression_follows_the_extension() {
        assert_eq!(Compression::from_key("raw/a.jsonl.gz"), Compression::Gzip);
        assert_eq!(Compression::from_key("raw/a.jsonl.zst"), Compression::Zstd);
        assert_eq!(Compression::from_key("raw/a.jsonl"), Compression::None);
        let mut encoded = Vec::new();
        {
            let mut encoder = zstd::stream::write::Encoder::new(&mut encoded, 1).unwrap();
            std::io::Write::write_all(&mut encoder, b"a\nb\n").unwrap();
            encoder.finish().unwrap();
        }
        let decoded = Compression::Zstd.decoder(&encoded[..]).unwrap();
        let mut lines = RangeLines::new(decoded, 0, None, 100);
        let mut buffer = Vec::new();
        let mut count = 0;
        while lines.next_line(&mut buffer).unwrap().is_some() {
            count += 1;
        }
        assert_eq!(count, 2);
    }
}
