pub struct Downloader;

#[ray::remote(concurrency_groups(io = 2, compute = 4))]
impl Downloader {
    pub fn new() -> Self {
        Downloader
    }

    #[ray::method(concurrency_group = "network")]
    pub fn fetch(&self, url: String) -> usize {
        url.len()
    }
}

fn main() {}
