//! `docker-compose.yml` and the `Dockerfile` without Docker: the compose file parses as YAML
//! (anchors resolved) and holds what the README promises — Visage built from the Dockerfile in
//! front of a pinned `qdrant/qdrant`, volumes, health checks, the API key through
//! `QDRANT__SERVICE__API_KEY`, and a `cluster` profile of three Qdrant nodes whose collection has
//! 2 shards kept twice, reached through all three nodes. (`scripts/test.sh` also runs `docker compose config` where Docker is.)

use serde_yaml::Value;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_of<'a>(service: &'a Value, key: &str) -> Option<&'a str> {
    service["environment"][key].as_str()
}

#[test]
fn the_compose_file_runs_visage_in_front_of_qdrant() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let compose: Value = serde_yaml::from_str(&text).expect("docker-compose.yml is valid YAML");
    let services = &compose["services"];
    let names: Vec<&str> = services.as_mapping().unwrap().keys().filter_map(|k| k.as_str()).collect();
    for name in ["visage", "qdrant", "qdrant-1", "qdrant-2", "qdrant-3", "visage-cluster"] {
        assert!(names.contains(&name), "service {name} missing: {names:?}");
    }

    let visage = &services["visage"];
    assert_eq!(visage["build"]["dockerfile"].as_str(), Some("Dockerfile"));
    assert_eq!(env_of(visage, "VISAGE_INDEX__KIND"), Some("qdrant"));
    assert_eq!(env_of(visage, "VISAGE_INDEX__QDRANT__URL"), Some("http://qdrant:6334"), "the gRPC port");
    assert!(env_of(visage, "VISAGE_INDEX__QDRANT__API_KEY").unwrap().contains("QDRANT_API_KEY"));
    assert_eq!(visage["depends_on"]["qdrant"]["condition"].as_str(), Some("service_healthy"));
    assert!(visage["healthcheck"]["test"].as_sequence().is_some());
    assert!(visage["volumes"][0].as_str().unwrap().ends_with(":/data"));
    // The API key is required, never a default; Visage's open API is published on loopback only.
    assert!(!text.contains(":-change-me") && text.contains("${QDRANT_API_KEY:?"), "QDRANT_API_KEY is required");
    for name in ["visage", "visage-cluster"] {
        for port in services[name]["ports"].as_sequence().unwrap() {
            assert!(port.as_str().unwrap().starts_with("127.0.0.1:"), "{name}: {port:?} on every interface");
        }
    }

    for name in ["qdrant", "qdrant-1", "qdrant-2", "qdrant-3"] {
        let q = &services[name];
        let image = q["image"].as_str().unwrap();
        let tag = image
            .strip_prefix("qdrant/qdrant:v")
            .unwrap_or_else(|| panic!("{name}: pinned qdrant/qdrant tag, got {image}"));
        assert!(tag.split('.').count() == 3 && tag.split('.').all(|p| p.parse::<u32>().is_ok()), "{name}: {image}");
        assert!(env_of(q, "QDRANT__SERVICE__API_KEY").unwrap().contains("QDRANT_API_KEY"), "{name}");
        assert!(q["healthcheck"]["test"].as_sequence().is_some(), "{name}: health check");
        assert!(q["volumes"][0].as_str().unwrap().ends_with(":/qdrant/storage"), "{name}: storage volume");
    }

    // The cluster profile: three nodes in Qdrant's distributed mode, bootstrapped from the first,
    // and a Visage creating its collection with shard_number / replication_factor 2.
    for name in ["qdrant-1", "qdrant-2", "qdrant-3", "visage-cluster"] {
        assert_eq!(services[name]["profiles"][0].as_str(), Some("cluster"), "{name}");
    }
    for name in ["qdrant-1", "qdrant-2", "qdrant-3"] {
        assert_eq!(env_of(&services[name], "QDRANT__CLUSTER__ENABLED"), Some("true"), "{name}");
    }
    for name in ["qdrant-2", "qdrant-3"] {
        let command: Vec<&str> =
            services[name]["command"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert!(command.windows(2).any(|w| w == ["--bootstrap", "http://qdrant-1:6335"]), "{name}: {command:?}");
    }
    let cluster = &services["visage-cluster"];
    assert_eq!(env_of(cluster, "VISAGE_INDEX__QDRANT__SHARD_NUMBER"), Some("2"));
    assert_eq!(env_of(cluster, "VISAGE_INDEX__QDRANT__REPLICATION_FACTOR"), Some("2"));
    // Every node's URL, so that losing any one of them (qdrant-1 included) stops nothing.
    let urls: Vec<&str> = env_of(cluster, "VISAGE_INDEX__QDRANT__URL").unwrap().split(',').collect();
    assert_eq!(urls, ["http://qdrant-1:6334", "http://qdrant-2:6334", "http://qdrant-3:6334"]);
    for node in ["qdrant-1", "qdrant-2", "qdrant-3"] {
        assert_eq!(cluster["depends_on"][node]["condition"].as_str(), Some("service_healthy"));
    }

    // Every named volume is declared.
    let declared = compose["volumes"].as_mapping().unwrap();
    for service in services.as_mapping().unwrap().values() {
        for v in service["volumes"].as_sequence().into_iter().flatten() {
            let name = v.as_str().unwrap().split(':').next().unwrap();
            assert!(declared.contains_key(name), "volume {name} is not declared");
        }
    }
}

#[test]
fn the_dockerfile_fetches_models_with_the_setup_script_in_its_own_stage() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 3, "multi-stage: set-up, build, runtime");
    assert!(text.contains("RUN ./scripts/setup.sh"));
    assert!(text.contains("cargo build --release --locked"));
    assert!(text.contains("COPY --from=models") && text.contains("HEALTHCHECK"));
}
