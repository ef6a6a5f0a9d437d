pub struct Downloader {
    fetched: usize,
}

#[ray::remote(concurrency_groups(io = 2))]
impl Downloader {
    pub fn new() -> Self {
        Downloader { fetched: 0 }
    }

    #[ray::method(concurrency_group = "io")]
    pub fn fetch(&mut self, url: String) -> usize {
        self.fetched += url.len();
        self.fetched
    }
}

fn main() {}
