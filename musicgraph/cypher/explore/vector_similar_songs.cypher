// Vector search: songs nearest to a seed song's embedding
// Which songs have embeddings closest (cosine) to the embedding of $song? Needs node embeddings in
// Song.embedding (written by Neo4jStore.set_embeddings, e.g. from the GNN or text encoder).
:param song => 'coldplay|yellow';
:param k => 10;

MATCH (s:Song {uid: $song})
WHERE s.embedding IS NOT NULL
CALL db.index.vector.queryNodes('song_embedding', $k + 1, s.embedding) YIELD node, score
WITH s, node, score
WHERE node <> s
RETURN node.uid AS song, node.artist AS artist, node.title AS title, round(score, 4) AS similarity
ORDER BY similarity DESC, song
LIMIT $k;
