pub struct A;

#[ray::remote(concurrency_groups(io = "two"))]
impl A {
    pub fn new() -> Self {
        A
    }
}

pub struct B;

#[ray::remote(concurrency_groups(io = 0))]
impl B {
    pub fn new() -> Self {
        B
    }
}

pub struct C;

#[ray::remote(concurrency_groups(io = 2, io = 4))]
impl C {
    pub fn new() -> Self {
        C
    }
}

pub struct D;

#[ray::remote(max_concurrency = 4)]
impl D {
    pub fn new() -> Self {
        D
    }
}

fn main() {}
