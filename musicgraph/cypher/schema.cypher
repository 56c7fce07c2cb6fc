// musicgraph schema for Neo4j 5.26, applied idempotently (IF NOT EXISTS) by Neo4jStore on connect.
// Parameter: $embedding_dim (MUSICGRAPH_EMBEDDING_DIM) sizes the vector indexes.
//
// Every node carries its musicgraph key in the property `uid` (unique per label; `key` is a Song's
// musical key).
// Store-internal labels: (:Text {ref, text}) holds long texts (lyrics) once, referenced from
// Song.lyrics_ref; (:MusicgraphMeta {key, value}) holds ingest checkpoints and the store version.

// ---- uniqueness of keys (these constraints are also the key lookup indexes)
CREATE CONSTRAINT song_uid IF NOT EXISTS FOR (n:Song) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT artist_uid IF NOT EXISTS FOR (n:Artist) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT album_uid IF NOT EXISTS FOR (n:Album) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT genre_uid IF NOT EXISTS FOR (n:Genre) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT mood_uid IF NOT EXISTS FOR (n:Mood) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT tag_uid IF NOT EXISTS FOR (n:Tag) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT user_uid IF NOT EXISTS FOR (n:User) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT playlist_uid IF NOT EXISTS FOR (n:Playlist) REQUIRE n.uid IS UNIQUE;
CREATE CONSTRAINT text_ref IF NOT EXISTS FOR (n:Text) REQUIRE n.ref IS UNIQUE;
CREATE CONSTRAINT meta_key IF NOT EXISTS FOR (n:MusicgraphMeta) REQUIRE n.key IS UNIQUE;

// ---- range indexes for common filters
CREATE INDEX song_year IF NOT EXISTS FOR (n:Song) ON (n.year);
CREATE INDEX song_spotify_id IF NOT EXISTS FOR (n:Song) ON (n.spotify_id);

// ---- full-text indexes (Lucene; query with db.index.fulltext.queryNodes)
CREATE FULLTEXT INDEX song_title IF NOT EXISTS FOR (n:Song) ON EACH [n.title, n.aliases];
CREATE FULLTEXT INDEX artist_name IF NOT EXISTS FOR (n:Artist) ON EACH [n.name, n.aliases];
CREATE FULLTEXT INDEX tag_name IF NOT EXISTS FOR (n:Tag|Genre|Mood) ON EACH [n.name];
CREATE FULLTEXT INDEX lyrics_text IF NOT EXISTS FOR (n:Text) ON EACH [n.text];

// ---- vector indexes for node embeddings (written by Neo4jStore.set_embeddings into `embedding`)
CREATE VECTOR INDEX song_embedding IF NOT EXISTS FOR (n:Song) ON n.embedding
OPTIONS {indexConfig: {`vector.dimensions`: $embedding_dim, `vector.similarity_function`: 'cosine'}};
CREATE VECTOR INDEX artist_embedding IF NOT EXISTS FOR (n:Artist) ON n.embedding
OPTIONS {indexConfig: {`vector.dimensions`: $embedding_dim, `vector.similarity_function`: 'cosine'}};
