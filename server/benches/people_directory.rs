//! How the Users page's query behaves with 10,000 people on a SQLite file: the first page, a
//! search by name, a filter by source, and a page near the end. Prints the median and the 95th
//! percentile of each over repeated runs.
//!
//!     cargo bench -p portal --bench people_directory

use std::time::{Duration, Instant};

use chrono::Utc;
use portal::people::{self, PeopleQuery};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, TransactionTrait};

const PEOPLE: usize = 10_000;
const RUNS: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let db = portal::db::connect_and_migrate(&url).await?;
    let pool = {
        use portal::db::entities::agent_pool;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        agent_pool::Entity::find()
            .filter(agent_pool::Column::IsDefault.eq(true))
            .one(&db)
            .await?
            .expect("the default pool")
            .id
    };
    let user_role = people::role_id(&db, portal::domain::Role::User).await?;
    let started = Instant::now();
    let txn = db.begin().await?;
    for i in 0..PEOPLE {
        let email = format!("person{i:05}@example.test");
        let account = portal::db::entities::user::ActiveModel {
            email: Set(email.clone()),
            email_normalized: Set(email),
            first_name: Set(format!("First{i}")),
            last_name: Set(format!("Last{i}")),
            source: Set(if i % 2 == 0 { "sso_jit" } else { "manual" }.into()),
            jit_provisioned: Set(i % 2 == 0),
            active: Set(true),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        portal::db::entities::pool_member::ActiveModel {
            pool_id: Set(pool),
            user_id: Set(account.id),
        }
        .insert(&txn)
        .await?;
        portal::db::entities::user_role::ActiveModel {
            user_id: Set(account.id),
            role_id: Set(user_role),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    println!(
        "seeded {PEOPLE} people in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let cases: [(&str, PeopleQuery); 4] = [
        (
            "first page (25)",
            PeopleQuery {
                per_page: Some(25),
                ..Default::default()
            },
        ),
        (
            "search 'last977'",
            PeopleQuery {
                q: Some("last977".into()),
                per_page: Some(25),
                ..Default::default()
            },
        ),
        (
            "source sso_jit",
            PeopleQuery {
                source: Some("sso_jit".into()),
                per_page: Some(25),
                ..Default::default()
            },
        ),
        (
            "page 399 of 400",
            PeopleQuery {
                page: Some(399),
                per_page: Some(25),
                ..Default::default()
            },
        ),
    ];
    println!(
        "{:<20} {:>10} {:>10} {:>8}",
        "query", "median", "p95", "rows"
    );
    for (name, query) in cases {
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut rows = 0;
        for _ in 0..RUNS {
            let start = Instant::now();
            let (listings, _) = people::search(&db, &query).await?;
            times.push(start.elapsed());
            rows = listings.len();
        }
        times.sort();
        println!(
            "{name:<20} {:>8.2}ms {:>8.2}ms {rows:>8}",
            times[RUNS / 2].as_secs_f64() * 1e3,
            times[RUNS * 95 / 100].as_secs_f64() * 1e3
        );
    }
    Ok(())
}
