//! A webhook endpoint on loopback that answers each request with the next of a scripted
//! list of statuses (the last one repeated) and counts what it got, for the tests that
//! watch deliveries fail and come again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct StatusReceiver {
    /// `http://127.0.0.1:<port>/hooks`.
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl StatusReceiver {
    /// Answers the first request with `statuses[0]`, the second with `statuses[1]`, and
    /// every one after the list with its last status.
    pub async fn start(statuses: &[u16]) -> Self {
        assert!(!statuses.is_empty(), "a receiver answers something");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let (seen, statuses) = (hits.clone(), statuses.to_vec());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let status = statuses[n.min(statuses.len() - 1)];
                tokio::spawn(async move {
                    // One read holds a whole delivery: they are a few hundred bytes.
                    let mut buffer = vec![0u8; 16 * 1024];
                    let _ = socket.read(&mut buffer).await;
                    let answer = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { url, hits }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
