//! The machine's own limits, measured in the same run as the figures: a message round
//! trip from a synchronous caller to another thread, through a bare actix actor and
//! through bare tokio channels (the tokio actix-rt runs on).

use super::{median, n, timed};

/// The machine's own limit: a synchronous caller sending an actix message to an actor on
/// another thread and waiting for the reply, the same hop a sync `get` of a task makes.
pub fn raw_actix_roundtrip() -> f64 {
    use actix::prelude::*;

    struct Echo;
    impl Actor for Echo {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "u64")]
    struct Ping(u64);
    impl Handler<Ping> for Echo {
        type Result = u64;
        fn handle(&mut self, p: Ping, _: &mut Context<Self>) -> u64 {
            p.0
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let th = std::thread::spawn(move || {
        let sys = actix_rt::System::new();
        sys.block_on(async {
            let _ = tx.send((Echo.start(), actix_rt::System::current()));
        });
        let _ = sys.run();
    });
    let Ok((addr, sys)) = rx.recv() else {
        return 0.0;
    };
    let rate = median(|| {
        let k = n(20_000);
        timed(k, || {
            for i in 0..k {
                let _ = futures::executor::block_on(addr.send(Ping(i as u64)));
            }
        })
    });
    sys.stop();
    let _ = th.join();
    rate
}

/// The same hop with nothing of actix around it: a synchronous caller sends a number and
/// a oneshot sender down a tokio mpsc channel to a task on a current-thread runtime on
/// another thread, and parks until the task answers through the oneshot.
pub fn raw_tokio_roundtrip() -> f64 {
    use tokio::sync::{mpsc, oneshot};

    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, oneshot::Sender<u64>)>();
    let th = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
            return;
        };
        rt.block_on(async move {
            while let Some((x, reply)) = rx.recv().await {
                let _ = reply.send(x);
            }
        });
    });
    let rate = median(|| {
        let k = n(20_000);
        timed(k, || {
            for i in 0..k {
                let (reply, answer) = oneshot::channel();
                if tx.send((i as u64, reply)).is_err() {
                    return;
                }
                let _ = futures::executor::block_on(answer);
            }
        })
    });
    // Closing the channel ends the task, then the runtime's thread.
    drop(tx);
    let _ = th.join();
    rate
}
