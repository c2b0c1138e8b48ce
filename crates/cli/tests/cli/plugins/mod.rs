//! Provider plugins: `nephele plugin check`, servers whose providers run out of process, and
//! plugins that misbehave on purpose.

mod check;
mod hostile;
mod serve;
