//! Provider plugins: `nephele plugin check`, and servers whose providers run out of process.

mod check;
mod serve;
