//! Row groups encoded away from the file they go to.
//!
//! A table's file is written by one writer at a time, but the costly part of writing Parquet,
//! encoding and compressing column values, needs no file: a [`GroupEncoder`] turns record
//! batches into a finished row group ([`EncodedGroup`]) on whatever thread holds it, and the
//! table only appends the group's bytes. The scan encodes its handshake rows this way, a batch
//! at a time in pool jobs running in parallel, instead of queueing them for one writer.
//!
//! Encoders are handed out and taken back by [`GroupEncoders`], one set per table: a job takes
//! one, encodes its batch and gives it back still open, so that the next batch, of any capture,
//! fills the same row group. Row groups stay large however many captures a run reads. A job
//! that finds every encoder busy leaves its batch to the busy one ([`GroupEncoders::encode`])
//! unless a batch already waits there: a new encoder is opened only when batches come faster
//! than one encodes them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::errors::ParquetError;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::OutputError;

/// Rows in a row group, at most (plus less than one batch): the size DuckDB itself writes
/// (122,880) rounded up. A reader parallelises over row groups, and each costs its columns'
/// metadata in the footer, so neither many small ones nor one huge one.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Batches that may wait for a busy encoder before another encoder is opened. A new encoder
/// costs its ~90 column writers (~2 ms for the handshakes table, a compressor and a
/// decompressor each) and, at the end, a second row group to finish: at two threads on the
/// bench tile, finishing two groups of ~1,400 rows took 6.2 to 6.6 ms of the run's end, one
/// group of 2,875 rows 4.5 ms on one thread.
const MOST_QUEUED: usize = 1;

/// Hands out encoders of one table's row groups, and keeps those given back open.
pub struct GroupEncoders {
    path: PathBuf,
    schema: SchemaRef,
    factory: ArrowRowGroupWriterFactory,
    state: Mutex<EncodersState>,
}

#[derive(Default)]
struct EncodersState {
    /// Encoders given back, open.
    idle: Vec<GroupEncoder>,
    /// Encoders taken by [`GroupEncoders::encode`] and not given back yet.
    busy: usize,
    /// Batches left to those, at most [`MOST_QUEUED`].
    queued: Vec<RecordBatch>,
}

impl GroupEncoders {
    pub(crate) fn new(
        path: PathBuf,
        schema: SchemaRef,
        factory: ArrowRowGroupWriterFactory,
    ) -> Self {
        GroupEncoders {
            path,
            schema,
            factory,
            state: Mutex::new(EncodersState::default()),
        }
    }

    /// Encodes `batch` into an open row group and keeps the group open for the next batch;
    /// `full` gets each group that reaches [`ROW_GROUP_ROWS`], finished. When every encoder is
    /// busy in another call, leaves the batch to one of those (unless [`MOST_QUEUED`] already
    /// wait) and returns at once; the call that holds an encoder encodes the batches left to
    /// it before it gives the encoder back.
    ///
    /// The columns are encoded in parallel ([`GroupEncoder::write_in_parallel`]): call this
    /// holding no lock that a pool task may take, except for reading.
    pub fn encode(
        &self,
        mut batch: RecordBatch,
        full: &mut dyn FnMut(EncodedGroup),
    ) -> Result<(), OutputError> {
        let idle = {
            let mut state = self.state();
            let idle = state.idle.pop();
            if idle.is_none() && state.busy > 0 && state.queued.len() < MOST_QUEUED {
                state.queued.push(batch);
                return Ok(());
            }
            state.busy += 1;
            idle
        };
        // No longer counted busy however this ends (an error fails the run).
        let mut busy = Busy {
            encoders: self,
            counted: true,
        };
        let mut encoder = self.open(idle)?;
        loop {
            encoder.write_in_parallel(&batch)?;
            if encoder.full() {
                full(encoder.finish()?);
                encoder = self.create()?;
            }
            let mut state = self.state();
            match state.queued.pop() {
                Some(next) => batch = next,
                None => {
                    // Under the same lock as the check: no batch is left to an encoder that
                    // is no longer busy.
                    state.busy -= 1;
                    busy.counted = false;
                    state.keep(encoder);
                    return Ok(());
                }
            }
        }
    }

    /// An open encoder given back earlier, or a new one.
    pub fn take(&self) -> Result<GroupEncoder, OutputError> {
        let idle = self.state().idle.pop();
        self.open(idle)
    }

    /// Keeps `encoder`, with the rows it holds, for whoever takes one next. The table writes
    /// what the encoders kept hold when it closes ([`GroupEncoders::take_all`]).
    pub fn give_back(&self, encoder: GroupEncoder) {
        self.state().keep(encoder);
    }

    /// Every encoder given back and not taken again, once no call of [`GroupEncoders::encode`]
    /// runs. Batches still left to an encoder (only when the call holding it failed, which
    /// fails the run) are encoded into one of them, so that no row is lost unseen.
    pub(crate) fn take_all(&self) -> Result<Vec<GroupEncoder>, OutputError> {
        let (mut idle, queued) = {
            let mut state = self.state();
            (
                std::mem::take(&mut state.idle),
                std::mem::take(&mut state.queued),
            )
        };
        if !queued.is_empty() {
            let mut encoder = self.open(idle.pop())?;
            for batch in &queued {
                encoder.write(batch)?;
            }
            idle.push(encoder);
        }
        Ok(idle)
    }

    /// Counts an encoder busy, as a call of [`GroupEncoders::encode`] elsewhere holding one.
    #[cfg(test)]
    pub(crate) fn hold_one(&self) {
        self.state().busy += 1;
    }

    /// The encoders' bookkeeping. A panic elsewhere while the lock was held leaves it as it
    /// was (a push, a pop or a count, whole or not at all), so it is used as it is.
    fn state(&self) -> MutexGuard<'_, EncodersState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The error for rows lost to a panic while they were encoded.
    pub fn panicked(&self) -> OutputError {
        OutputError::Panicked {
            path: self.path.clone(),
        }
    }

    /// `idle`, an encoder given back, or else a new one.
    fn open(&self, idle: Option<GroupEncoder>) -> Result<GroupEncoder, OutputError> {
        match idle {
            Some(e) => Ok(e),
            None => self.create(),
        }
    }

    fn create(&self) -> Result<GroupEncoder, OutputError> {
        // The row group index only matters to encryption, which tlscap does not use.
        let columns = self
            .factory
            .create_column_writers(0)
            .map_err(|e| self.error(e))?;
        Ok(GroupEncoder {
            path: self.path.clone(),
            schema: self.schema.clone(),
            columns,
            rows: 0,
        })
    }

    fn error(&self, source: ParquetError) -> OutputError {
        OutputError::Parquet {
            path: self.path.clone(),
            source,
        }
    }
}

impl EncodersState {
    /// Keeps `encoder` open for the next batch, unless it holds nothing.
    fn keep(&mut self, encoder: GroupEncoder) {
        if encoder.rows > 0 {
            self.idle.push(encoder);
        }
    }
}

/// A call of [`GroupEncoders::encode`] holding an encoder: counted busy until it ends, even by
/// an error or a panic, so that no batch is left to it afterwards.
struct Busy<'e> {
    encoders: &'e GroupEncoders,
    counted: bool,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if self.counted {
            let mut state = self.encoders.state();
            state.busy = state.busy.saturating_sub(1);
        }
    }
}

/// Encodes record batches into one row group of a table, without its file.
pub struct GroupEncoder {
    path: PathBuf,
    schema: SchemaRef,
    columns: Vec<ArrowColumnWriter>,
    rows: usize,
}

impl GroupEncoder {
    /// Encodes `batch`, which has the table's schema, a column after another.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        self.write_columns(batch, false)
    }

    /// [`GroupEncoder::write`], with idle workers of the pool taking columns to encode. At the
    /// end of a scan each shard's last batch is encoded while the other workers have nothing
    /// left to do; a column after another, one worker encoded them while another waited
    /// (~2.5 ms a batch of the bench tile's handshakes). A handful of wide columns cost most
    /// of a batch, so the split is by column.
    ///
    /// The caller must hold no lock that a pool task may take, except for reading: while this
    /// thread waits for a column another worker took, it runs other tasks of the pool.
    pub(crate) fn write_in_parallel(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        self.write_columns(batch, true)
    }

    fn write_columns(&mut self, batch: &RecordBatch, parallel: bool) -> Result<(), OutputError> {
        self.encode_columns(batch, parallel)
            .map_err(|source| OutputError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.rows += batch.num_rows();
        Ok(())
    }

    fn encode_columns(&mut self, batch: &RecordBatch, parallel: bool) -> Result<(), ParquetError> {
        if batch.num_columns() != self.schema.fields().len() {
            return Err(ParquetError::General(format!(
                "a batch has {} columns, its table {}",
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        let mut leaves = Vec::with_capacity(self.columns.len());
        for (field, array) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, array)?);
        }
        if leaves.len() != self.columns.len() {
            return Err(ParquetError::General(format!(
                "a batch has {} leaf columns, its table {}",
                leaves.len(),
                self.columns.len()
            )));
        }
        if parallel {
            self.columns
                .par_iter_mut()
                .zip(&leaves)
                .try_for_each(|(column, leaf)| column.write(leaf))
        } else {
            self.columns
                .iter_mut()
                .zip(&leaves)
                .try_for_each(|(column, leaf)| column.write(leaf))
        }
    }

    /// Rows encoded so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// True once the row group has its rows ([`ROW_GROUP_ROWS`]): finish it, and take a new
    /// encoder for more.
    pub fn full(&self) -> bool {
        self.rows >= ROW_GROUP_ROWS
    }

    /// Finishes the row group: its dictionaries and last pages are written and compressed.
    pub fn finish(self) -> Result<EncodedGroup, OutputError> {
        self.finish_columns(|columns| columns.into_iter().map(ArrowColumnWriter::close).collect())
    }

    /// [`GroupEncoder::finish`], its columns finished in parallel: for the end of a run, when
    /// the workers have nothing else to do.
    pub(crate) fn finish_in_parallel(self) -> Result<EncodedGroup, OutputError> {
        self.finish_columns(|columns| {
            columns
                .into_par_iter()
                .map(ArrowColumnWriter::close)
                .collect()
        })
    }

    fn finish_columns(
        self,
        close: impl FnOnce(Vec<ArrowColumnWriter>) -> Result<Vec<ArrowColumnChunk>, ParquetError>,
    ) -> Result<EncodedGroup, OutputError> {
        let GroupEncoder {
            path,
            columns,
            rows,
            ..
        } = self;
        let chunks = close(columns).map_err(|source| OutputError::Parquet { path, source })?;
        Ok(EncodedGroup { chunks, rows })
    }
}

/// A finished row group, compressed, waiting to be appended to its table's file.
pub struct EncodedGroup {
    chunks: Vec<ArrowColumnChunk>,
    rows: usize,
}

impl EncodedGroup {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends the row group to `file`: copies its bytes, encodes nothing.
    pub(crate) fn append_to(
        self,
        file: &mut SerializedFileWriter<std::fs::File>,
    ) -> Result<(), ParquetError> {
        let mut group = file.next_row_group()?;
        for chunk in self.chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        Ok(())
    }
}

/// Shared by a table and everyone encoding its rows.
pub type SharedEncoders = Arc<GroupEncoders>;
