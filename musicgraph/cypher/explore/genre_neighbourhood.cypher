// The genre neighbourhood of an artist
// Which genres is $artist in, and which other artists share the most of them? Returns the artist,
// its genres and the neighbours as paths, so Neo4j Browser draws the neighbourhood as a graph.
:param artist => 'radiohead';
:param limit => 12;

MATCH (a:Artist {uid: $artist})-[:HAS_GENRE]->(g:Genre)<-[:HAS_GENRE]-(o:Artist)
WHERE o <> a
WITH a, o, collect(g) AS genres
ORDER BY size(genres) DESC, o.uid
LIMIT $limit
UNWIND genres AS g
MATCH p = (a)-[:HAS_GENRE]->(g)<-[:HAS_GENRE]-(o)
RETURN p AS path, o.name AS neighbour, g.name AS genre, size(genres) AS shared_genres
ORDER BY shared_genres DESC, neighbour, genre;
