// GNN neighbours of an artist, within a tag
// Which artists are nearest to $artist by their GNN embeddings (cosine, from the artist_embedding
// vector index that `musicgraph gnn embed` fills when Neo4j is configured), keeping only artists
// tagged $tag? The index is asked for $candidates nearest artists, then filtered by the tag.
:param artist => 'portishead';
:param tag => 'trip hop';
:param candidates => 500;
:param k => 10;

MATCH (a:Artist {uid: $artist})
WHERE a.embedding IS NOT NULL
CALL db.index.vector.queryNodes('artist_embedding', $candidates, a.embedding) YIELD node, score
WITH a, node, score
WHERE node <> a
MATCH (node)-[t:TAGGED]->(:Tag {uid: $tag})
RETURN node.uid AS artist, node.name AS name, round(score, 4) AS similarity, t.weight AS tag_weight
ORDER BY similarity DESC, artist
LIMIT $k;
