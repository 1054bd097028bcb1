"""Writes the small sparse weight files tests/sparse.rs reads
(tests/data/sparse/): one 7x7 matrix with an empty row and a duplicate
entry, in every format `kind = "sparse"` reads, beside its dense values;
and files that must be refused. Run from the repository root:

    python3 scripts/make_sparse_fixtures.py
"""
import os

import numpy as np
import scipy.sparse as sp

out = "tests/data/sparse"
os.makedirs(out, exist_ok=True)

n = 7
# (row, col, value): row 3 empty, (5, 2) given twice (summed: 0.75).
rows = np.array([0, 0, 1, 2, 4, 5, 5, 6, 6, 1], dtype=np.int64)
cols = np.array([1, 6, 0, 2, 4, 2, 2, 0, 5, 5], dtype=np.int64)
vals = np.array([0.5, -1.25, 2.0, 0.125, -0.5, 0.25, 0.5, 1.5, -2.0, 3.0])
coo = sp.coo_matrix((vals, (rows, cols)), shape=(n, n))
np.save(f"{out}/dense.npy", coo.toarray())

csr = coo.tocsr()
csr.indices = csr.indices.astype(np.int32)
csr.indptr = csr.indptr.astype(np.int32)
sp.save_npz(f"{out}/csr_f64_i32.npz", csr)
csc = coo.tocsc().astype(np.float32)
csc.indices = csc.indices.astype(np.int64)
csc.indptr = csc.indptr.astype(np.int64)
sp.save_npz(f"{out}/csc_f32_i64.npz", csc, compressed=False)
# COO as given: the duplicate stays two entries in the file.
sp.save_npz(f"{out}/coo_f64.npz", coo)
np.save(f"{out}/rows.npy", rows)
np.save(f"{out}/cols.npy", cols.astype(np.int32))
np.save(f"{out}/values.npy", vals.astype(np.float32))

# Refused: an index out of range, a NaN, a dense array saved by np.savez,
# and a 6x6 matrix where N = 7.
np.save(f"{out}/cols_out_of_range.npy", np.where(cols == 5, 7, cols))
np.save(f"{out}/values_nan.npy", np.where(np.arange(len(vals)) == 4, np.nan, vals))
np.savez(f"{out}/dense_savez.npz", m=coo.toarray())
sp.save_npz(f"{out}/csr_6x6.npz", sp.random(6, 6, density=0.3, format="csr", random_state=1))
