//! The state API's views of actors (states, restarts, death causes), objects (size,
//! references, owner, locations), placement groups and logs, on an embedded runtime and
//! across the nodes of a real cluster on 127.0.0.1.

mod common;

use ray::prelude::*;
use serde_json::Value;

use common::http_get as get;

fn json(url: &str, path: &str) -> Value {
    let (status, body) = get(url, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn url() -> String {
    ray::runtime_context()
        .dashboard_url()
        .expect("a dashboard")
        .to_string()
}

pub struct Fragile;

#[ray::remote]
impl Fragile {
    pub fn new() -> Self {
        Fragile
    }

    pub fn crash(&self) -> u8 {
        panic!("fragile on purpose")
    }

    pub fn ping(&self) -> u8 {
        1
    }
}

/// The entry of actor `id` in `/api/actors`, once `ready` holds for it.
fn actor(url: &str, id: ray::ActorId, ready: impl Fn(&Value) -> bool) -> Value {
    let find = || {
        json(url, "/api/actors")
            .as_array()
            .and_then(|l| l.iter().find(|a| a["actor_id"] == id.to_string()).cloned())
    };
    assert!(
        common::wait_until(common::LONG, || find().is_some_and(|a| ready(&a))),
        "actor {id}: {:?}",
        find()
    );
    find().unwrap_or_default()
}

#[test]
fn actors_are_listed_with_their_state_restarts_and_death_cause() {
    use ray::ActorOptionsBuilder;
    let _ray = common::init(2.0);
    let url = url();
    let a = Fragile::options().name("fragile").max_restarts(1).remote();
    assert_eq!(ray::get(&a.ping.remote()).unwrap(), 1);
    let alive = actor(&url, a.id(), |a| a["state"] == "ALIVE");
    assert_eq!(alive["name"], "fragile");
    assert_eq!(alive["class"], "Fragile");
    assert_eq!(alive["restarts"], 0);
    assert_eq!(
        alive["node_id"],
        ray::runtime_context().node_id().to_string()
    );

    // One crash: restarted once, alive again.
    assert!(ray::get(&a.crash.remote()).is_err());
    assert_eq!(ray::get(&a.ping.remote()).unwrap(), 1);
    actor(&url, a.id(), |a| {
        a["state"] == "ALIVE" && a["restarts"] == 1
    });

    // The second crash is past `max_restarts`: dead, with the panic as its cause.
    assert!(ray::get(&a.crash.remote()).is_err());
    let dead = actor(&url, a.id(), |a| a["state"] == "DEAD");
    assert!(
        dead["death_cause"]
            .as_str()
            .is_some_and(|c| c.contains("fragile on purpose")),
        "{dead}"
    );
    assert!(dead["ended_s"].as_f64().is_some(), "{dead}");

    // An actor whose CPUs another holds waits for them (one asking for a resource no
    // node has at all fails at once instead, as infeasible).
    let holder = Fragile::options().num_cpus(2.0).remote();
    assert_eq!(ray::get(&holder.ping.remote()).unwrap(), 1);
    let waiting = Fragile::options().num_cpus(1.0).remote();
    actor(&url, waiting.id(), |a| a["state"] == "PENDING_CREATION");
    drop(holder);
    actor(&url, waiting.id(), |a| a["state"] == "ALIVE");

    // A killed actor is dead, and so is one whose handles all went.
    let killed = Fragile::remote();
    ray::get(&killed.ping.remote()).unwrap();
    ray::kill(&killed);
    actor(&url, killed.id(), |a| a["state"] == "DEAD");
    let dropped = Fragile::remote();
    let dropped_id = dropped.id();
    ray::get(&dropped.ping.remote()).unwrap();
    drop(dropped);
    let gone = actor(&url, dropped_id, |a| a["state"] == "DEAD");
    assert!(
        gone["death_cause"]
            .as_str()
            .is_some_and(|c| c.contains("handles")),
        "{gone}"
    );

    let only_dead = json(&url, "/api/actors?state=DEAD");
    let only_dead = only_dead.as_array().unwrap();
    assert!(only_dead.len() >= 3, "{only_dead:?}");
    assert!(only_dead.iter().all(|a| a["state"] == "DEAD"));
}

#[ray::remote]
fn hold(_blob: ObjectRef<Vec<u8>>) -> u8 {
    std::thread::sleep(std::time::Duration::from_secs(30));
    0
}

#[test]
fn objects_are_listed_largest_first_with_references_owner_and_location() {
    let _ray = common::init(2.0);
    let url = url();
    let node = ray::runtime_context().node_id().to_string();
    let big = ray::put(vec![7u8; 3 << 20]);
    let _again = big.clone();
    let _small = ray::put(vec![1u8; 16]);
    let o = json(&url, "/api/objects");
    let first = &o["objects"][0];
    assert_eq!(first["object_id"], big.id().to_string(), "{o}");
    assert_eq!(first["state"], "READY");
    assert!(first["size"].as_u64().unwrap() >= 3 << 20, "{first}");
    assert_eq!(first["ref_count"], 2, "{first}");
    assert_eq!(first["owner_node_id"], node);
    assert_eq!(first["locations"], serde_json::json!([node]));
    assert_eq!(o["stores"][0]["node_id"], node);
    assert!(o["stores"][0]["bytes_used"].as_u64().unwrap() >= 3 << 20);
    assert_eq!(
        json(&url, "/api/objects?limit=1")["objects"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // A result still being made is pending.
    let pending = hold.remote(big.clone());
    let listed = json(&url, "/api/objects?state=PENDING");
    assert!(
        listed["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["object_id"] == pending.id().to_string()),
        "{listed}"
    );
    ray::cancel(&pending, true).unwrap();
}

#[test]
fn a_nodes_log_file_is_shown_and_no_other_file_is() {
    let dir = std::env::temp_dir().join(format!("ray-logs-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("node.log");
    let text: String = (0..500).map(|i| format!("log line {i}\n")).collect();
    std::fs::write(&log, text).unwrap();
    let _ray = common::init_with(ray::Config::new().num_cpus(1.0).log_file(&log));
    let url = url();
    let l = json(&url, "/api/logs?lines=3");
    assert_eq!(l["file"], log.display().to_string());
    assert_eq!(
        l["lines"],
        serde_json::json!(["log line 497", "log line 498", "log line 499"])
    );
    // A path in the query is not a parameter: still the node's own log.
    let l = json(&url, "/api/logs?path=/etc/passwd&file=/etc/passwd&lines=1");
    assert_eq!(l["lines"], serde_json::json!(["log line 499"]));
    let (status, _) = get(&url, "/api/logs?node_id=no-such-node");
    assert_eq!(status, 404);
    // Someone swaps the log's path for a symlink to a secret: the node still serves the
    // file it opened at start, never what the path names now.
    let secret = dir.join("secret");
    std::fs::write(&secret, "the secret\n").unwrap();
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&secret, &log).unwrap();
    let l = json(&url, "/api/logs?lines=1");
    assert_eq!(l["lines"], serde_json::json!(["log line 499"]), "{l}");
    std::fs::remove_dir_all(&dir).unwrap();
}

pub struct Keeper {
    kept: Option<ObjectRef<Vec<u8>>>,
}

#[ray::remote]
impl Keeper {
    pub fn new() -> Self {
        Keeper { kept: None }
    }

    pub fn keep(&mut self, blob: Vec<ObjectRef<Vec<u8>>>) -> usize {
        let len = blob.len();
        self.kept = blob.into_iter().next();
        len
    }

    pub fn kept_len(&self) -> usize {
        self.kept
            .as_ref()
            .map_or(0, |r| ray::get(r).map_or(0, |v| v.len()))
    }
}

#[test]
fn the_heads_views_cover_objects_groups_and_logs_of_every_node() {
    use ray::ActorOptionsBuilder;
    let (cluster, nodes) = common::two_nodes_with("r");
    let url = cluster
        .dashboard_url()
        .expect("the head serves the dashboard");
    let _ray = common::join(&cluster.address());
    let driver = ray::runtime_context().node_id().to_string();
    // A worker node keeps a copy of an object the driver put.
    let blob = ray::put(vec![5u8; 2 << 20]);
    let keeper = Keeper::options().resource("r", 1.0).remote();
    ray::get(&keeper.keep.remote(vec![blob.clone()])).unwrap();
    assert_eq!(ray::get(&keeper.kept_len.remote()).unwrap(), 2 << 20);
    let entries = || -> Vec<Value> {
        json(&url, "/api/objects")["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o["object_id"] == blob.id().to_string())
            .collect()
    };
    assert!(
        common::wait_until(common::LONG, || entries().len() == 2),
        "{:?}",
        entries()
    );
    let workers: Vec<String> = nodes.iter().map(|n| n.node_id().to_string()).collect();
    for e in entries() {
        assert_eq!(e["owner_node_id"], driver, "{e}");
        let locations = e["locations"].as_array().unwrap();
        assert_eq!(locations.len(), 2, "{e}");
        assert!(locations.contains(&Value::from(driver.clone())), "{e}");
        assert!(
            locations
                .iter()
                .any(|l| workers.contains(&l.as_str().unwrap().to_string()))
        );
    }
    // A group the driver made is listed by the head.
    let pg = ray::placement_group_with(
        ray::PlacementGroupOptions::new(vec![ray::bundle([("r", 1.0)])]).name("elsewhere"),
    )
    .unwrap();
    assert!(pg.wait(common::LONG).unwrap());
    let groups = json(&url, "/api/placement_groups");
    let g = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "elsewhere")
        .unwrap_or_else(|| panic!("no group in {groups}"));
    assert_eq!(g["creator_node_id"], driver);
    assert_eq!(g["state"], "CREATED");
    // The head forwards a log request to the node named (these nodes have no log file).
    let l = json(&url, &format!("/api/logs?node_id={}", workers[0]));
    assert_eq!(l["node_id"], workers[0]);
    assert!(
        l["error"]
            .as_str()
            .is_some_and(|e| e.contains("no log file")),
        "{l}"
    );
    // The head kills an actor another node hosts; its token is the cluster's.
    let address = cluster.address();
    let token = common::token_of(&address);
    let (status, body) = common::http_request(
        &url,
        "POST",
        &format!("/api/actors/{}/kill", keeper.id()),
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(status, 202, "{body}");
    assert!(
        common::wait_until(common::LONG, || matches!(
            ray::get(&keeper.kept_len.remote()),
            Err(ray::Error::ActorDied { .. })
        )),
        "the keeper still answers"
    );
}

#[ray::remote]
fn spin_until_cancelled() -> u8 {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ray::runtime_context().is_canceled() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    0
}

#[test]
fn killing_an_actor_and_cancelling_a_task_need_the_token_in_a_header_from_no_other_origin() {
    use common::http_request as request;
    let _ray = common::init(2.0);
    let url = url();
    let ctx = ray::runtime_context();
    let token = ctx.dashboard_token().expect("a token").to_string();
    let a = Fragile::remote();
    assert_eq!(ray::get(&a.ping.remote()).unwrap(), 1);
    let kill = format!("/api/actors/{}/kill", a.id());
    let bearer = format!("Authorization: Bearer {token}\r\n");
    // Refused: no token, the token in the URL, a wrong token, another page's origin, GET.
    assert_eq!(request(&url, "POST", &kill, "").0, 401);
    assert_eq!(
        request(&url, "POST", &format!("{kill}?token={token}"), "").0,
        401
    );
    assert_eq!(
        request(&url, "POST", &kill, "Authorization: Bearer nope\r\n").0,
        401
    );
    let evil = format!("{bearer}Origin: http://evil.example\r\n");
    assert_eq!(request(&url, "POST", &kill, &evil).0, 403);
    assert_ne!(request(&url, "GET", &kill, &bearer).0, 200);
    assert_eq!(ray::get(&a.ping.remote()).unwrap(), 1, "still alive");
    assert_eq!(
        request(&url, "POST", "/api/actors/bogus/kill", &bearer).0,
        400
    );
    // With the token, from the dashboard's own page.
    let own = format!("{bearer}Origin: {url}\r\n");
    let (status, body) = request(&url, "POST", &kill, &own);
    assert_eq!(status, 200, "{body}");
    let dead = actor(&url, a.id(), |a| a["state"] == "DEAD");
    assert!(
        dead["death_cause"]
            .as_str()
            .is_some_and(|c| c.contains("dashboard")),
        "{dead}"
    );
    assert!(matches!(
        ray::get(&a.ping.remote()),
        Err(ray::Error::ActorDied { .. })
    ));

    let task = spin_until_cancelled.remote();
    let cancel = format!("/api/tasks/{}/cancel", task.id().task_id());
    assert_eq!(request(&url, "POST", &cancel, "").0, 401);
    assert!(!task.is_ready());
    let (status, body) = request(&url, "POST", &cancel, &bearer);
    assert_eq!(status, 202, "{body}");
    assert!(matches!(
        ray::get_timeout(&task, std::time::Duration::from_secs(10)),
        Err(ray::Error::Cancelled { .. })
    ));
}
