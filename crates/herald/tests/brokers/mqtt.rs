//! Mosquitto (MQTT).

use super::*;

async fn mqtt_consumer(topic: &str, inbox: Inbox) -> rumqttc::AsyncClient {
    let mut opts = rumqttc::MqttOptions::new(format!("test-{}", suffix()), "127.0.0.1", MOSQUITTO);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 100);
    client.subscribe(topic, rumqttc::QoS::AtLeastOnce).await.unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut ready_tx = Some(ready_tx);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    inbox.add(Some(p.topic.clone()), &p.payload)
                }
                Ok(_) => {}
                Err(e) => panic!("MQTT consumer lost Mosquitto: {e}"),
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .expect("Mosquitto did not acknowledge the subscription")
        .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_events_reach_mosquitto_and_survive_an_outage() {
    require("Mosquitto", MOSQUITTO);
    let srv = TestServer::start();
    let topic = format!("mqtt-{}", suffix());
    let inbox = Inbox::default();
    let _consumer = mqtt_consumer(&topic, inbox.clone()).await;
    let proxy = Proxy::start(MOSQUITTO).await;
    let (s3, bucket) = setup(&srv, &topic, &format!("mqtt://127.0.0.1:{}", proxy.port), &[]).await;
    first_events(&s3, &bucket, &inbox).await;
    assert!(inbox.keyed().iter().all(|(k, _)| k.as_deref() == Some(topic.as_str())));

    proxy.down();
    let n = write_backlog(&s3, &bucket).await;
    wait_pending(&srv, &topic).await;
    proxy.up();
    let got = inbox.wait_for("backlog after Mosquitto came back", 3 + n, 60).await;
    check_backlog(&got);
}
