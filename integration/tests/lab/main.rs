//! Lab tests: run only inside the kernel lab VM (`cargo xtask test`).
