from csws.cli.main import main

raise SystemExit(main())
