//! The full-text index of a variant's turns (tantivy): one document per conversation, its
//! ordinal in the catalog, the contents of its turns (indexed with positions, so quoted phrases
//! match exactly) and the whole row as JSON in the zstd-compressed document store, which serves
//! conversation pages and snippets without decoding a Parquet page.

use std::ops::Range;
use std::path::Path;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{Query, QueryParser};
use tantivy::schema::{Field, Schema, Value, FAST, STORED, TEXT};
use tantivy::snippet::SnippetGenerator;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexSettings, IndexWriter, Score, SegmentOrdinal, SegmentReader,
    TantivyDocument,
};

/// Memory the index writer may use while building, in all.
const WRITER_BUDGET_BYTES: usize = 256 << 20;
/// Characters of a search result's snippet.
const SNIPPET_CHARS: usize = 240;

fn schema() -> (Schema, Field, Field, Field) {
    let mut builder = Schema::builder();
    let ordinal = builder.add_u64_field("ordinal", FAST);
    let text = builder.add_text_field("text", TEXT);
    let row = builder.add_text_field("row", STORED);
    (builder.build(), ordinal, text, row)
}

/// Writes an index into an empty directory.
pub struct IndexBuilder {
    writer: IndexWriter,
    ordinal: Field,
    text: Field,
    row: Field,
}

impl IndexBuilder {
    pub fn create(dir: &Path) -> anyhow::Result<IndexBuilder> {
        let (schema, ordinal, text, row) = schema();
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor::default()),
            ..IndexSettings::default()
        };
        let index = Index::builder().schema(schema).settings(settings).create_in_dir(dir)?;
        let threads = std::thread::available_parallelism()
            .map_or(1, |cores| cores.get())
            .min(4);
        let writer = index.writer_with_num_threads(threads, WRITER_BUDGET_BYTES)?;
        Ok(IndexBuilder {
            writer,
            ordinal,
            text,
            row,
        })
    }

    /// Adds a conversation: its ordinal, its turns' texts and its whole row as JSON.
    pub fn add(&self, ordinal: u32, texts: Vec<&str>, row: &str) -> anyhow::Result<()> {
        let mut document = TantivyDocument::new();
        document.add_u64(self.ordinal, u64::from(ordinal));
        for text in texts {
            document.add_text(self.text, text);
        }
        document.add_text(self.row, row);
        self.writer.add_document(document)?;
        Ok(())
    }

    /// Commits and waits for merges; the directory then holds the whole index.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.writer.commit()?;
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// An open index.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    text: Field,
    row: Field,
    /// Where each catalog ordinal's document is.
    addresses: Vec<Option<DocAddress>>,
}

/// A search's hits: catalog ordinals, in no order.
pub struct Hits {
    pub query: Box<dyn Query>,
    pub hits: Vec<u32>,
}

/// A snippet of a hit: text and the byte ranges of the matched terms in it.
pub struct Snippet {
    pub text: String,
    pub highlighted: Vec<Range<usize>>,
}

impl SearchIndex {
    pub fn open(dir: &Path) -> anyhow::Result<SearchIndex> {
        let index = Index::open_in_dir(dir)?;
        let reader = index.reader()?;
        let text = index.schema().get_field("text")?;
        let row = index.schema().get_field("row")?;
        let searcher = reader.searcher();
        let mut addresses = vec![None; usize::try_from(searcher.num_docs())?];
        for (segment, segment_reader) in searcher.segment_readers().iter().enumerate() {
            let ordinals = segment_reader.fast_fields().u64("ordinal")?;
            for doc in 0..segment_reader.max_doc() {
                if let Some(ordinal) = ordinals.first(doc) {
                    if let Some(slot) = addresses.get_mut(ordinal as usize) {
                        *slot = Some(DocAddress::new(segment as SegmentOrdinal, doc));
                    }
                }
            }
        }
        Ok(SearchIndex {
            index,
            reader,
            text,
            row,
            addresses,
        })
    }

    /// A conversation's whole row as JSON, from the document store.
    pub fn row(&self, ordinal: u32) -> anyhow::Result<serde_json::Value> {
        let address = self
            .addresses
            .get(ordinal as usize)
            .copied()
            .flatten()
            .ok_or_else(|| anyhow::anyhow!("the index has no conversation {ordinal}"))?;
        self.row_at(&self.reader.searcher(), address)
    }

    fn row_at(&self, searcher: &tantivy::Searcher, address: DocAddress) -> anyhow::Result<serde_json::Value> {
        let document: TantivyDocument = searcher.doc(address)?;
        let text = document
            .get_first(self.row)
            .and_then(|value| value.as_str())
            .ok_or_else(|| anyhow::anyhow!("document {address:?} has no row"))?;
        Ok(serde_json::from_str(text)?)
    }

    /// Every conversation matching `query` (words must all occur; "quoted phrases" must occur
    /// as written, case aside). A query that does not parse is an error for the page to show.
    pub fn search(&self, query: &str) -> anyhow::Result<Hits> {
        let mut parser = QueryParser::for_index(&self.index, vec![self.text]);
        parser.set_conjunction_by_default();
        let query = parser
            .parse_query(query)
            .map_err(|error| anyhow::anyhow!("the query does not parse: {error}"))?;
        let hits = self.reader.searcher().search(&*query, &OrdinalCollector)?;
        Ok(Hits { query, hits })
    }

    /// Snippets of some conversations (catalog ordinals) for a search, in the order given.
    pub fn snippets(&self, hits: &Hits, ordinals: &[u32]) -> anyhow::Result<Vec<Snippet>> {
        let searcher = self.reader.searcher();
        let mut generator = SnippetGenerator::create(&searcher, &*hits.query, self.text)?;
        generator.set_max_num_chars(SNIPPET_CHARS);
        let mut snippets = Vec::with_capacity(ordinals.len());
        for ordinal in ordinals {
            let address = self
                .addresses
                .get(*ordinal as usize)
                .copied()
                .flatten()
                .ok_or_else(|| anyhow::anyhow!("the index has no conversation {ordinal}"))?;
            let row = self.row_at(&searcher, address)?;
            let text = crate::rows::turn_texts(&row).join("\n");
            let snippet = generator.snippet(&text);
            snippets.push(Snippet {
                text: snippet.fragment().to_string(),
                highlighted: snippet.highlighted().to_vec(),
            });
        }
        Ok(snippets)
    }
}

/// Collects the catalog ordinal (fast field) of every matching document.
struct OrdinalCollector;

struct OrdinalSegmentCollector {
    ordinals: Column<u64>,
    hits: Vec<u32>,
}

impl Collector for OrdinalCollector {
    type Fruit = Vec<u32>;
    type Child = OrdinalSegmentCollector;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<OrdinalSegmentCollector> {
        Ok(OrdinalSegmentCollector {
            ordinals: reader.fast_fields().u64("ordinal")?,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u32>>) -> tantivy::Result<Vec<u32>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for OrdinalSegmentCollector {
    type Fruit = Vec<u32>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(ordinal) = self.ordinals.first(doc) {
            self.hits.push(ordinal as u32);
        }
    }

    fn harvest(self) -> Vec<u32> {
        self.hits
    }
}

/// The words of a query as the index's default tokenizer splits them (alphanumeric runs,
/// lower-cased), for highlighting them in a conversation.
pub fn query_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && !matches!(*word, "AND" | "OR" | "NOT"))
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// Byte ranges of `words` in `text`, matched as whole alphanumeric runs, ignoring case.
pub fn word_ranges(text: &str, words: &[String]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    if words.is_empty() {
        return ranges;
    }
    let mut start = None;
    for (index, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(index),
            (false, Some(begin)) => {
                let word = text[begin..index].to_lowercase();
                if words.binary_search(&word).is_ok() {
                    ranges.push(begin..index);
                }
                start = None;
            }
            _ => {}
        }
    }
    ranges
}
