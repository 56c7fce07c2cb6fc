// Mood paths between two artists (shortestPath)
// How are $from and $to connected through the moods of their songs? The shortest path that only
// walks PERFORMED_BY and HAS_MOOD: artist <- song -> mood <- song -> artist. Shows well as a graph.
:param from => 'coldplay';
:param to => 'metallica';

MATCH (a:Artist {uid: $from}), (b:Artist {uid: $to})
MATCH p = shortestPath((a)-[:PERFORMED_BY|HAS_MOOD*..10]-(b))
RETURN p AS path, length(p) AS hops,
       [n IN nodes(p) | coalesce(n.title, n.name, n.uid)] AS steps;
