//! M's buffers on the GPU ([`GpuOperator`]), as its kernel family uploads
//! them (each family's `upload`, in its file of `operator/`): every
//! buffer, the binding each takes, and what a run's parameters and bind
//! groups read of them.

/// M's buffers on the GPU and what a run reads of them.
pub struct GpuOperator {
    /// Every buffer of M, once each.
    pub(crate) buffers: Vec<wgpu::Buffer>,
    /// The tables the step's bind groups hold, a group (or a pair, one
    /// for each side of the operand ping-pong) per entry: (the table at
    /// binding 7, U at 15). Empty: one group, with placeholders.
    pub(crate) tables: Vec<(wgpu::Buffer, Option<wgpu::Buffer>)>,
    /// M's other buffers at their bindings.
    pub(crate) bindings: Vec<(u32, wgpu::Buffer)>,
    /// The metrics' table M brings (a torus's, a drawn ring's), if any.
    pub(crate) metric: Option<wgpu::Buffer>,
    /// The table whose rows are the metrics' where a record reads rows of
    /// it (a structured form's V), if any.
    pub(crate) metric_rows: Option<wgpu::Buffer>,
    /// R, the projections of a structured form.
    pub(crate) rank: u32,
    /// The step reads its operand through the ping-pong buffers.
    pub(crate) operand: bool,
    /// Blocks of 32 units in each buffer of packed patterns' bits but the
    /// last, where M has packed patterns.
    pub(crate) packed_words: Option<u32>,
    /// Sparse M's factored terms, T.
    pub(crate) factor_terms: u32,
    /// The structured table's flags: (U is V, row 0 all ones, a diagonal).
    pub(crate) table_flags: (bool, bool, bool),
}

impl GpuOperator {
    /// Bytes of its buffers.
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().map(wgpu::Buffer::size).sum()
    }

    /// R, the projections of a structured form (0 for dense and sparse M).
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// Whether the step reads its operand through the ping-pong buffers:
    /// dense M, and sparse M as dense does.
    pub fn operand(&self) -> bool {
        self.operand
    }

    /// Blocks of 32 units in each buffer of packed patterns' bits but the
    /// last; `None` where M has no packed patterns.
    pub fn packed_words(&self) -> Option<u32> {
        self.packed_words
    }

    /// Sparse M's factored terms, T (0 for the other forms).
    pub fn factor_terms(&self) -> u32 {
        self.factor_terms
    }

    /// The structured table's flags: (U is V, row 0 all ones, a
    /// diagonal); all false for dense and sparse M.
    pub fn table_flags(&self) -> (bool, bool, bool) {
        self.table_flags
    }

    /// The metric table M brings: its own (a torus's, a drawn ring's), or
    /// V's rows where the metrics read `rows` of them; else `none`.
    pub fn metric_table<'a>(&'a self, rows: bool, none: &'a wgpu::Buffer) -> &'a wgpu::Buffer {
        self.metric
            .as_ref()
            .or(self.metric_rows.as_ref().filter(|_| rows))
            .unwrap_or(none)
    }

    /// The tables the step's bind groups hold, a group (or a pair, one
    /// for each side of the operand ping-pong) per entry: (the table at
    /// binding 7, U at 15); dense M's row blocks, a structured form's V
    /// and U, `none` for sparse M (whose entries are bound by
    /// [`GpuOperator::bindings`]).
    pub fn tables<'a>(
        &'a self,
        none: &'a wgpu::Buffer,
    ) -> Vec<(&'a wgpu::Buffer, Option<&'a wgpu::Buffer>)> {
        if self.tables.is_empty() {
            return vec![(none, None)];
        }
        self.tables.iter().map(|(t, u)| (t, u.as_ref())).collect()
    }

    /// M's own buffers at their bindings, but the table (7) and U (15):
    /// the diagonal (9) and coefficients (11), the pattern bits (16 to 19,
    /// 22 to 25), sparse M's row places, columns, values and row list (27
    /// to 30) and its factored terms and their numbers (32, 33). A binding
    /// not listed holds a placeholder.
    pub fn bindings(&self) -> Vec<(u32, &wgpu::Buffer)> {
        self.bindings.iter().map(|(k, b)| (*k, b)).collect()
    }
}
